"""Parsing and validating the five cron fields into allowed-value sets.

Our own parser rather than croniter's expansion: croniter 7.0.0 turns single-value ranges
(``7-7``, ``23-23``) into ``*``, applies its ``implement_cron_bug`` to ``*/2`` in a day field,
and its error messages do not name the field and value; correcting all three on top of its
output costs more than this module, and not importing it saves ~25 ms of ``beat next``
start-up. croniter stays the test oracle for plain expressions (tests/schedules).

Grammar, per field (case-insensitive names; ``0`` and ``7`` are Sunday)::

    item   := "*" | value | value "-" value        (optionally "/" step)
            | value "/" step                         (means value-max/step)
            | H | H "(" value "-" value ")"          (optionally "/" step)
    dom    += "L" | "LW" | value "W"
    dow    += value "L" | value "#" 1..5
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from beat.errors import ScheduleError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: dict[int, dict[str, int]] = {
    3: {n: i + 1 for i, n in enumerate(_MONTHS)},
    4: {n: i for i, n in enumerate(_DAYS)},
}
# H in day-of-month stays within 1-28 so the hashed day exists in every month (as Jenkins).
_H_BOUNDS = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A validated cron expression as sorted allowed values plus the day extensions.

    Weekdays are 0=Sunday..6=Saturday. ``day_and`` is the Vixie rule: True when the
    day-of-month or day-of-week field starts with ``*`` (both must match), else either may.
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: tuple[int, ...]
    dom_values: frozenset[int]
    dom_last: bool  # L
    dom_last_weekday: bool  # LW
    dom_nearest_weekday: frozenset[int]  # 15W
    dow_values: frozenset[int]
    dow_last: frozenset[int]  # 5L: last Friday of the month
    dow_nth: frozenset[tuple[int, int]]  # (weekday, n) from 1#2
    dom_star: bool
    dow_star: bool
    wildcard: bool  # minute or hour field starts with "*" (SPEC 5)

    @property
    def day_and(self) -> bool:
        return self.dom_star or self.dow_star


def _stable_hash(name: str, field: str) -> int:
    # blake2b, not hash(): the value must be the same in every process and on every machine.
    digest = hashlib.blake2b(f"{name}\0{field}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class _FieldParser:
    """Parses one field; every error names the field and quotes the offending text."""

    def __init__(self, index: int, text: str, name: str) -> None:
        self.index = index
        self.field = FIELD_NAMES[index]
        self.text = text
        self.lo, self.hi = _BOUNDS[index]
        self.name = name

    def error(self, problem: str) -> ScheduleError:
        return ScheduleError(self.field, problem)

    def value(self, token: str) -> int:
        names = _NAMES.get(self.index, {})
        low = token.lower()
        if low in names:
            return names[low]
        if not token.isdigit():
            if token.isalpha() and self.index in _NAMES:
                raise self.error(f"unknown name {token!r}")
            raise self.error(f"invalid value {token!r} in {self.text!r}")
        number = int(token)
        if not self.lo <= number <= self.hi:
            raise self.error(f"{number} is out of range {self.lo}-{self.hi}")
        return number

    def step(self, token: str, item: str) -> int:
        if not token.isdigit():
            raise self.error(f"invalid step {token!r} in {item!r}")
        step = int(token)
        if step == 0:
            raise self.error(f"step 0 in {item!r}")
        return step

    def item_range(self, item: str) -> range:
        """The values of a plain item (``*``, ``a``, ``a-b``, ``H``... with an optional step)."""
        base, slash, step_text = item.partition("/")
        step = self.step(step_text, item) if slash else 1
        if base == "*":
            start, stop = self.lo, self.hi
            if self.index == 4:
                stop = 6  # "*" means Sunday once, not 0 and 7
        elif base.upper().startswith("H"):
            return self._hashed(base, step, slash != "", item)
        elif "-" in base:
            a_text, _, b_text = base.partition("-")
            start, stop = self.value(a_text), self.value(b_text)
            if start > stop:
                raise self.error(f"range {base!r} runs backwards (start above end)")
        else:
            start = self.value(base)
            stop = self.hi if slash else start  # "a/n" means a-max/n
        return range(start, stop + 1, step)

    def _hashed(self, base: str, step: int, has_step: bool, item: str) -> range:
        lo, hi = _H_BOUNDS[self.index]
        rest = base[1:]
        if rest:
            if not (rest.startswith("(") and rest.endswith(")") and "-" in rest):
                raise self.error(f"invalid H form {item!r} (use H, H/n or H(a-b))")
            a_text, _, b_text = rest[1:-1].partition("-")
            lo, hi = self.value(a_text), self.value(b_text)
            if lo > hi:
                raise self.error(f"range {rest!r} in {item!r} runs backwards")
        seed = _stable_hash(self.name, self.field)
        if has_step:
            # H/15: every 15 from a hashed offset below 15, like Jenkins.
            offset = seed % min(step, hi - lo + 1)
            return range(lo + offset, hi + 1, step)
        value = lo + seed % (hi - lo + 1)
        return range(value, value + 1)


def _parse_plain(parser: _FieldParser, text: str) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise parser.error(f"empty item in {text!r}")
        values.update(parser.item_range(item))
    return frozenset(values)


def _parse_dom(
    parser: _FieldParser, text: str
) -> tuple[frozenset[int], bool, bool, frozenset[int]]:
    values: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and upper[:-1].isdigit():
            nearest.add(parser.value(upper[:-1]))
        elif not item:
            raise parser.error(f"empty item in {text!r}")
        else:
            values.update(parser.item_range(item))
    return frozenset(values), last, last_weekday, frozenset(nearest)


def _parse_dow(
    parser: _FieldParser, text: str
) -> tuple[frozenset[int], frozenset[int], frozenset[tuple[int, int]]]:
    values: set[int] = set()
    last: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in text.split(","):
        upper = item.upper()
        if "#" in item:
            day_text, _, n_text = item.partition("#")
            if not n_text.isdigit() or not 1 <= int(n_text) <= 5:
                raise parser.error(f"'#' needs a week number 1-5 in {item!r}")
            nth.add((parser.value(day_text) % 7, int(n_text)))
        elif upper.endswith("L") and len(upper) > 1 and upper != "L":
            last.add(parser.value(item[:-1]) % 7)
        elif upper == "L":
            raise parser.error("'L' needs a weekday, e.g. '5L' for the last Friday")
        elif not item:
            raise parser.error(f"empty item in {text!r}")
        else:
            values.update(v % 7 for v in parser.item_range(item))
    return frozenset(values), frozenset(last), frozenset(nth)


def _days_possible(spec: CronSpec) -> bool:
    """False when the day fields can never match in the chosen months (e.g. ``* * 30 2 *``)."""
    if not spec.day_and or spec.dom_star or spec.dom_last or spec.dom_last_weekday:
        return True  # a weekday field or a "*"-based day field always finds some day
    longest = max((29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31) for m in spec.months)
    return any(d <= longest for d in spec.dom_values | spec.dom_nearest_weekday)


def parse(expr: str, name: str = "") -> CronSpec:
    """Validate ``expr`` (5 fields or a macro) into a :class:`CronSpec`.

    ``name`` seeds ``H``: the same name gives the same values in every process.
    """
    text = expr.strip()
    if text.startswith("@"):
        macro = MACROS.get(text.lower())
        if macro is None:
            raise ScheduleError("cron", f"unknown macro {text!r} (known: {', '.join(MACROS)})")
        text = macro
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError("cron", f"expected 5 fields, got {len(fields)}")
    parsers = [_FieldParser(i, f, name) for i, f in enumerate(fields)]
    minutes = _parse_plain(parsers[0], fields[0])
    hours = _parse_plain(parsers[1], fields[1])
    dom_values, dom_last, dom_lw, dom_near = _parse_dom(parsers[2], fields[2])
    months = _parse_plain(parsers[3], fields[3])
    dow_values, dow_last, dow_nth = _parse_dow(parsers[4], fields[4])
    spec = CronSpec(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        months=tuple(sorted(months)),
        dom_values=dom_values,
        dom_last=dom_last,
        dom_last_weekday=dom_lw,
        dom_nearest_weekday=dom_near,
        dow_values=dow_values,
        dow_last=dow_last,
        dow_nth=dow_nth,
        dom_star=fields[2].startswith("*"),
        dow_star=fields[4].startswith("*"),
        wildcard=fields[0].startswith("*") or fields[1].startswith("*"),
    )
    if not _days_possible(spec):
        raise ScheduleError(
            "day-of-month", f"{fields[2]!r} never occurs in month field {fields[3]!r}"
        )
    return spec
