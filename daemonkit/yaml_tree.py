"""YAML to Python values with line numbers, bounded in time and memory.

The one YAML loader of beat and the worker (``schedules.yaml``, ``--yaml`` input). Values are
built straight from libyaml's event stream; mappings and sequences remember their lines, so
problems can name them. Aliases share the anchored value, which makes a "billion laughs" file
(a few hundred bytes of nested aliases) cheap to load but enormous to walk, copy or encode, so
the expansion is bounded while composing: every alias costs the size of the node it repeats,
and the total may not exceed :data:`ALIAS_BUDGET_BASE` plus :data:`ALIAS_BUDGET_PER_VALUE` per
value written in the file. Nesting depth and file size are bounded too.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable
from typing import Any, cast

import yaml

from daemonkit.yaml_repeats import RepeatSink, Spans
from daemonkit.yaml_values import Lined as Lined
from daemonkit.yaml_values import LinedList as LinedList

# Deeper than this is surely an accident or an attack (and deep values exhaust the stack of
# whatever walks them later).
MAX_YAML_DEPTH = 128
# Aliases may repeat at most this many values in all, plus 10 per value written: plenty for
# `<<: *defaults` in every entry, far too little for nested alias bombs.
ALIAS_BUDGET_BASE = 10_000
ALIAS_BUDGET_PER_VALUE = 10
# A long string counts as one value per this many characters (plus one), so repeating a large
# string through aliases is bounded in bytes, not only in values.
_CHARS_PER_VALUE = 256
# Distinct plain strings remembered as such (see TreeBuilder.plain_strings): bounded, as a file
# of distinct strings gains nothing from them.
_PLAIN_STRINGS_KEPT = 4096


class YamlLimitExceeded(Exception):
    """The document is over one of the bounds above; ``line`` (1-based) and ``path`` say
    where. Composition stops at once: the rest of the document is not read."""

    def __init__(self, line: int | None, path: str, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message


class YamlProblems(ValueError):
    """Problems found by :func:`load_yaml`, one ``line N: path: message`` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_yaml(text: str) -> Any:
    """``text`` as Python values (mappings are :class:`Lined`), within the bounds above.

    Raises :class:`YamlProblems` for anything the builder refuses (bounds, duplicate keys,
    unsupported tags, undefined aliases) and :class:`yaml.YAMLError` for syntax errors.
    """
    problems: list[str] = []

    def report(line: int | None, path: str, message: str) -> None:
        where = f"line {line}: " if line is not None else ""
        problems.append(f"{where}{path}: {message}" if path else f"{where}{message}")

    try:
        value = TreeBuilder(report).build(text)
    except YamlLimitExceeded as e:
        report(e.line, e.path, e.message)
    if problems:
        raise YamlProblems(problems)
    return value


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = _TAG + "str", _TAG + "map", _TAG + "seq", _TAG + "merge"
_NUMERIC = frozenset((_TAG + "int", _TAG + "float"))
_CONSTRUCTED = frozenset(_TAG + t for t in ("null", "bool", "int", "float", "timestamp", "binary"))
_IMPLICIT: dict[Any, list[tuple[str, re.Pattern[str]]]] = yaml.SafeLoader.yaml_implicit_resolvers
# First characters of plain scalars that may resolve to something other than a string.
_PLAIN_FIRST = frozenset(k for k in _IMPLICIT if k is not None)  # '' is null
_ScalarEvent, _AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
_MappingStart, _MappingEnd = yaml.MappingStartEvent, yaml.MappingEndEvent
_SequenceStart, _SequenceEnd = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_DocumentStart = yaml.DocumentStartEvent
_NO_KEY: Any = object()  # a mapping frame waiting for its next key
_SKIP: Any = object()  # the pending key was refused (duplicate, unhashable): drop its value
_MERGE_KEY: Any = object()  # the pending key is `<<`


class _Frame:
    """An open mapping or sequence while the event stream is read."""

    __slots__ = (
        *("anchor", "at", "first", "is_list", "key", "key_line", "lines", "merges", "parent"),
        *("repeat", "sink", "value"),
    )

    def __init__(
        self, value: Lined | LinedList, parent: _Frame | None, anchor: str | None, first: int
    ) -> None:
        self.value = value
        self.is_list = type(value) is LinedList
        # Where this value sits in its parent: its path is only spelled out for a problem.
        self.parent = parent
        self.at: Any = None if parent is None else parent.position()
        self.anchor = anchor
        self.first = first  # values composed before this one: its size is counted from here
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.merges: list[tuple[int, Any]] = []
        self.sink = False  # whether each completed value goes to the sink (`entries:`)
        # The sink's key lines as C ints (an int per key outlived the parse: 30 MB at 1,000,000
        # entries); in key_lines only for values it did not take, or all after a duplicate.
        self.lines: array[int] | None = None
        # A streamed value whose text may serve later ones (TreeBuilder.spans): where it
        # starts in the text, and the expanded values, anchors and problems so far.
        self.repeat: tuple[int, int, int, int] | None = None

    def position(self) -> Any:
        """Where the value being read goes: an index in a sequence, else the pending key."""
        return len(self.value) if self.is_list else self.key

    @property
    def path(self) -> str:
        return "" if self.parent is None else _path_in(self.parent, self.at)


def _path_in(frame: _Frame, at: Any) -> str:
    path = frame.path  # once: each level spells out the levels above it
    if frame.is_list:
        return f"{path}[{at}]"
    if at is _NO_KEY or at is _SKIP or at is _MERGE_KEY:
        return path
    key = segment(at)
    return f"{path}.{key}" if path else key


def _no_sink(root: Lined, key: Any, value: Any, line: int) -> Any:
    raise AssertionError("a value streamed without a sink")


class TreeBuilder:
    """Builds Python values straight from libyaml's event stream.

    PyYAML's composer builds a node tree first (about three times slower on a 100,000-entry
    file); this reads each event once. Mappings become :class:`Lined`, sequences
    :class:`LinedList`. Duplicate keys, unsupported tags, bad scalar values and undefined
    aliases become problems, not exceptions; YAML syntax errors still raise
    :class:`yaml.YAMLError`. Aliases share the anchored value; an anchor is defined when its
    node ends, so a node cannot contain itself. Over a bound (alias expansion, depth) it
    raises :class:`YamlLimitExceeded`.
    """

    def __init__(
        self,
        report: Callable[[int | None, str, str], None],
        *,
        stream: tuple[str, Callable[[Lined, Any, Any, int], Any]] | None = None,
    ) -> None:
        self._report = report
        self.reported = 0  # problems so far: a value with one is not repeated (spans)
        # (key, sink): each value of the top-level mapping under `key` is handed to
        # sink(root so far, its key, value, key line) as soon as it is complete, and what the
        # sink returns is kept instead, so a file of 1,000,000 entries never holds all of their
        # trees at once (beat.config.top).
        self.stream_key: str | None = None
        self.sink: Callable[[Lined, Any, Any, int], Any] | None = None
        if stream is not None:
            self.stream_key, self.sink = stream
        # With a RepeatSink: the texts of streamed values, each read once (daemonkit.yaml_repeats).
        self.spans: Spans | None = None
        self.constructor = yaml.constructor.SafeConstructor()
        self.anchors: dict[str, Any] = {}
        # Plain scalars that resolved to themselves (a string) though their first character
        # might have made them a number, bool or null: `task`, `timezone`, `30s`. A file of
        # 100,000 entries writes a few dozen of them over and over; matching each against the
        # resolvers' patterns again was a tenth of building the tree (issue 17).
        self.plain_strings: set[str] = set()
        # Each anchor's size in values as if every alias inside it were expanded.
        self.sizes: dict[str, int] = {}

    def report(self, line: int | None, path: str, message: str) -> None:
        self.reported += 1
        self._report(line, path, message)

    def build(self, text: str) -> Any:
        if isinstance(self.sink, RepeatSink):
            self.spans = Spans(self.sink, text)
        loader = _Loader(text)
        try:
            return self._build(loader.get_event)
        finally:
            loader.dispose()

    def _build(self, next_event: Callable[[], Any]) -> Any:  # noqa: C901
        # One loop with the common cases inlined: it runs once per YAML event (about 15 per
        # entry), and function calls would double the load time of a large file. The one
        # function over the complexity bound of 12, on purpose: the hot loop of start-up.
        stack: list[_Frame] = []
        top: _Frame | None = None
        root: Any = None
        documents = 0
        plain_first = _PLAIN_FIRST
        plain_strings = self.plain_strings
        sink = self.sink or _no_sink  # called only by frames marked as streamed
        spans = self.spans
        # Values written in the file and values repeated by aliases so far (see the module).
        written = expanded = 0
        while (event := next_event()) is not None:
            kind = type(event)
            if kind is _ScalarEvent:
                value = event.value
                size = 1 + len(value) // _CHARS_PER_VALUE
                written += size
                is_merge = False
                if event.tag is not None or (
                    event.implicit[0] and value[:1] in plain_first and value not in plain_strings
                ):
                    value, is_merge = self.scalar(event, stack)
                if event.anchor is not None:
                    self.anchors[event.anchor] = value
                    self.sizes[event.anchor] = size
                line = 0  # looked up below only where it is kept
            elif kind is _MappingStart or kind is _SequenceStart:
                if event.tag is not None:
                    self.check_container_tag(event, stack)
                line = event.start_mark.line + 1
                if len(stack) >= MAX_YAML_DEPTH:
                    raise YamlLimitExceeded(
                        line, child_path(stack), f"nested more than {MAX_YAML_DEPTH} levels deep"
                    )
                repeat = None
                if spans is not None and top is not None and top.sink and kind is _MappingStart:
                    span, end, start = spans.find(event, top.key)  # an entry written alike?
                    if span is not None:
                        written += span.written
                        at = (cast("Lined", stack[0].value), top.key, top.key_line, line)
                        self.keep(top, spans.again(next_event, span, end, *at), None)
                        continue
                    if start >= 0:
                        repeat = (start, expanded, len(self.anchors), self.reported)
                container: Lined | LinedList = (
                    Lined(line) if kind is _MappingStart else LinedList(line)
                )
                written += 1
                streamed = top is not None and len(stack) == 1 and top.key == self.stream_key
                top = _Frame(container, top, event.anchor, written + expanded)
                top.sink = streamed and self.sink is not None and kind is _MappingStart
                top.lines = array("L") if top.sink else None
                top.repeat = repeat
                stack.append(top)
                continue
            elif kind is _MappingEnd or kind is _SequenceEnd:
                frame = stack.pop()
                top = stack[-1] if stack else None
                value, is_merge, line = frame.value, False, frame.value.line
                if frame.merges:
                    self.merge(frame)
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = value
                    self.sizes[frame.anchor] = written + expanded - frame.first + 1
                if frame.repeat is not None and top is not None:  # a streamed value
                    size = written + expanded - frame.first + 1
                    self.take(cast("Lined", stack[0].value), top, frame, event, expanded, size)
                    continue
            elif kind is _AliasEvent:
                is_merge, line = False, event.start_mark.line + 1
                value = self.anchors.get(event.anchor, _SKIP)
                if value is _SKIP:
                    self.report(line, child_path(stack), f"undefined alias {event.anchor!r}")
                    value = None
                else:
                    expanded += self.sizes[event.anchor]
                    if expanded > ALIAS_BUDGET_BASE + ALIAS_BUDGET_PER_VALUE * written:
                        raise YamlLimitExceeded(line, child_path(stack), _over_budget(event))
            elif kind is _DocumentStart:
                documents += 1
                if documents > 1:
                    line = event.start_mark.line + 1
                    self.report(line, "", "expected a single YAML document, found another")
                    return root
                continue
            else:  # stream start/end, document end
                continue

            if top is None:
                root = value
                continue
            into: Any = top.value
            if top.is_list:
                into.append(value)
                into.item_lines.append(line or event.start_mark.line + 1)
                continue
            key = top.key
            if key is _NO_KEY:  # `value` is a key
                line = line or event.start_mark.line + 1
                if type(value) is str and not is_merge and value not in into:
                    top.key, top.key_line = value, line
                else:
                    self.odd_key(top, value, line, is_merge)
                continue
            top.key = _NO_KEY
            if key is _MERGE_KEY:
                top.merges.append((line or event.start_mark.line + 1, value))
            elif key is not _SKIP:
                given = value
                if top.sink:
                    value = sink(cast("Lined", stack[0].value), key, value, top.key_line)
                into[key] = value
                if top.lines is not None:
                    top.lines.append(top.key_line)
                if top.lines is None or value is given:  # not taken by the sink: may be asked
                    into.key_lines[key] = top.key_line
        return root

    def take(
        self, root: Lined, top: _Frame, frame: _Frame, end: Any, expanded: int, size: int
    ) -> None:
        """The streamed value ``frame`` is complete: to the sink, and its text remembered."""
        value = frame.value
        assert isinstance(value, Lined) and frame.repeat is not None and self.spans is not None
        taken = self.spans.sink(root, top.key, value, top.key_line)
        self.keep(top, taken, value)
        start, expanded_before, anchors, reported = frame.repeat
        plain = (
            expanded == expanded_before
            and len(self.anchors) == anchors
            and self.reported == reported
            and not frame.merges
        )
        self.spans.remember(start, end, value, taken, size, plain)

    @staticmethod
    def keep(top: _Frame, taken: Any, given: Any) -> None:
        """What the sink took for the value of ``top``'s pending key, in place of ``given``."""
        key, top.key = top.key, _NO_KEY
        into = top.value
        into[key] = taken
        if top.lines is not None:
            top.lines.append(top.key_line)
        if top.lines is None or taken is given:  # not taken by the sink: may be asked
            cast("Lined", into).key_lines[key] = top.key_line

    def check_container_tag(self, event: Any, stack: list[_Frame]) -> None:
        tag = event.tag
        expected = _MAP if type(event) is _MappingStart else _SEQ
        if tag is not None and tag != "!" and tag != expected:
            line = event.start_mark.line + 1
            self.report(line, child_path(stack), f"unsupported YAML tag {tag!r}")

    def odd_key(self, frame: _Frame, value: Any, line: int, is_merge: bool) -> None:
        """A key that is not a new plain string: ``<<``, a number, a duplicate, a mapping."""
        container = frame.value
        assert isinstance(container, Lined)
        if is_merge:
            frame.key = _MERGE_KEY
        elif isinstance(value, dict | list):
            self.report(line, frame.path, "a key must be a plain value, not a mapping or list")
            frame.key = _SKIP
        elif value in container:
            if frame.lines is not None:  # the streamed mapping's lines: a dict from now on
                container.key_lines.update(zip(container, frame.lines, strict=False))
                frame.lines = None
            first = container.key_lines[value]
            self.report(line, frame.path, f"duplicate key {value!r} (first at line {first})")
            frame.key = _SKIP
        else:
            frame.key, frame.key_line = value, line

    def scalar(self, event: Any, stack: list[_Frame]) -> tuple[Any, bool]:
        """A scalar that may not be a plain string: its value, and whether it is ``<<``."""
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            if not event.implicit[0] or tag == "!":
                return text, False  # quoted or `!`: always a string
            for candidate, pattern in _IMPLICIT.get(text[:1] if text else "", ()):
                if pattern.match(text):
                    tag = candidate
                    break
            else:
                if len(self.plain_strings) < _PLAIN_STRINGS_KEPT:
                    self.plain_strings.add(text)
                return text, False
        if tag == _STR:
            return text, False
        if tag == _MERGE:
            return text, True
        # YAML 1.1 reads 9:30 as the base-60 integer 570; YAML 1.2 dropped that, and so do we.
        if tag in _NUMERIC and ":" in text:
            return text, False
        line = event.start_mark.line + 1
        if tag not in _CONSTRUCTED:
            self.report(line, child_path(stack), f"unsupported YAML tag {tag!r}")
            return text, False
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark)
        try:
            return self.constructor.yaml_constructors[tag](self.constructor, node), False
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
            problem = getattr(e, "problem", None) or str(e)
            kind = tag.removeprefix(_TAG)
            self.report(line, child_path(stack), f"invalid {kind} value {text!r}: {problem}")
            return text, False

    def merge(self, frame: _Frame) -> None:
        """``<<: *anchor`` (or a list of them): keys not given explicitly; first source wins."""
        out = frame.value
        assert isinstance(out, Lined)
        for line, merged in frame.merges:
            sources = merged if isinstance(merged, list) else [merged]
            for source in sources:
                if not isinstance(source, Lined):
                    self.report(line, frame.path, "'<<' expects a mapping or a list of mappings")
                    break
                for key, value in source.items():
                    if key not in out:
                        out[key] = value
                        out.key_lines[key] = source.key_lines.get(key, source.line)


def _over_budget(event: Any) -> str:
    return (
        f"alias *{event.anchor} would expand the document beyond the limit of "
        f"{ALIAS_BUDGET_BASE:,} values plus {ALIAS_BUDGET_PER_VALUE} per value written "
        "(nested aliases repeat their anchors' contents; write the values out instead)"
    )


def child_path(stack: list[_Frame]) -> str:
    """The path of the value being read (for problems): ``entries.heartbeat.every``."""
    return _path_in(stack[-1], stack[-1].position()) if stack else ""


def segment(key: Any) -> str:
    """A key as a part of a problem's path: as is when plain, else quoted (one printable line)."""
    return key if isinstance(key, str) and key.isprintable() and key else repr(key)
