"""Streamed values written alike (issue 17: 100,000 entries written as a few thousand texts).

With a :class:`RepeatSink`, :class:`~daemonkit.yaml_tree.TreeBuilder` remembers the text of a
streamed mapping written on one line in flow style (``{task: t, every: 1m}``) and what the sink
took for it; a later value with the very same text is not built again (its events are read
past, and checked to be those of the text), and the sink is offered what it took before.

The same text gives the same value: a flow mapping is read from its characters alone (its
column and line do not matter on one line), and only texts made of plain values are
remembered: no alias, anchor, merge or nested value, and nothing reported while reading them.
The text is the mapping's up to its first ``}``, so a later value is looked up without reading
it: a text containing another ``}`` before its end is never remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import yaml

from daemonkit.yaml_values import Lined, LinedList

# Distinct texts remembered: bounded, as a file of distinct values gains nothing from them.
SPANS_KEPT = 4096
_NESTED = frozenset((Lined, LinedList))  # values that are not one event each


@runtime_checkable
class RepeatSink(Protocol):
    """A sink of :class:`~daemonkit.yaml_tree.TreeBuilder` that also takes values written
    alike (see the module docstring)."""

    def __call__(self, root: Lined, key: Any, value: Any, line: int) -> Any: ...

    def shares(self, value: Lined, taken: Any) -> bool:
        """Whether ``taken`` (what the sink returned for ``value``) may serve every later
        value written alike, under another key."""
        ...

    def again(
        self, root: Lined, key: str, taken: Any, value: Callable[[], Lined], line: int
    ) -> Any:
        """What to keep under ``key`` for a value written as the one the sink took as
        ``taken``; ``value()`` builds that value (lines and all) if the sink needs it."""
        ...


class Span:
    """The text of a streamed value that others may repeat, and what it was read as."""

    __slots__ = ("events", "items", "taken", "written")

    def __init__(self, events: int, written: int, taken: Any, items: tuple[Any, ...]) -> None:
        self.events = events  # its start, a key and a value per item, its end
        self.written = written  # its size in values (see daemonkit.yaml_tree)
        self.taken = taken
        self.items = items  # plain values: shared by every copy

    def mapping(self, line: int) -> Lined:
        """The value as it would have been built on ``line`` (it is one line long)."""
        value = Lined(line)
        value.update(self.items)
        value.key_lines = dict.fromkeys(value, line)
        return value

    def skip(self, next_event: Callable[[], Any], end: int) -> None:
        """Read past the events of a value written alike, after its start: the same text
        gives the same events (checked: its scalars, then its end where the text ends)."""
        for _ in range(self.events - 2):
            if type(next_event()) is not yaml.ScalarEvent:
                raise AssertionError("a repeated YAML text gave other events")
        last = next_event()
        if type(last) is not yaml.MappingEndEvent or _end_of(last) != end:
            raise AssertionError("a repeated YAML text ended elsewhere")


def _end_of(event: Any) -> int:
    return int(event.end_mark.index)


class Spans:
    """The texts remembered by one builder."""

    __slots__ = ("sink", "text", "texts")

    def __init__(self, sink: RepeatSink, text: str) -> None:
        self.sink = sink
        self.text = text  # the document: the events' marks index it
        self.texts: dict[str, Span] = {}

    def find(self, event: Any, key: Any) -> tuple[Span | None, int, int]:
        """For the streamed mapping ``event`` starts under ``key``: the span written there if
        its text is known, where that text would end, and where it starts (-1: not a flow
        mapping under a plain key, never remembered)."""
        if not (event.flow_style and type(key) is str and event.anchor is event.tag is None):
            return None, -1, -1
        start = event.start_mark.index
        end = self.text.find("}", start) + 1
        return (self.texts.get(self.text[start:end]) if end else None), end, start

    def again(self, next_event: Callable[[], Any], span: Span, end: int, *at: Any) -> Any:
        """What the sink takes for a value written as ``span``'s, whose events are read past;
        ``at``: the root, the key, its line and the value's line."""
        span.skip(next_event, end)
        root, key, key_line, line = at
        return self.sink.again(root, key, span.taken, lambda: span.mapping(line), key_line)

    def remember(
        self, start: int, end: Any, value: Lined, taken: Any, size: int, plain: bool
    ) -> None:
        """Remember the text of ``value``, from ``start`` to its end event ``end``, read as
        ``taken``, when later values written alike may be taken so: ``plain`` (the builder
        saw no alias, anchor, merge or problem), one line closed by its first ``}``, no
        nested value, and the sink says ``taken`` may serve."""
        stop = end.end_mark.index
        if (
            plain
            and len(self.texts) < SPANS_KEPT
            and end.end_mark.line + 1 == value.line
            and self.text.find("}", start) + 1 == stop
            and _NESTED.isdisjoint(map(type, value.values()))
            and self.sink.shares(value, taken)
        ):
            span = Span(2 + 2 * len(value), size, taken, tuple(value.items()))
            self.texts[self.text[start:stop]] = span
