"""Cron fields: our validation, our expansion (croniter's only for ``H``), and the corrections
where croniter departs from cron.

Three steps, each with one job:

1. Validation (ours, :class:`_FieldChecker`) reads every item of the five fields and rejects
   bad input with a message naming the field and the text (``minute: 60 is out of range
   0-59``); croniter's messages name neither.
2. Expansion turns the items -- numbers, names, ranges, steps, lists, ``a/n``, ``*``, ``L`` in
   day-of-month, ``n#k`` and ``Ln`` in day-of-week -- into allowed values. Without ``H`` it is
   ours (:func:`_expand_plain`): the values croniter 7.0.0 gives, corrected as below, checked
   against croniter's output in tests/schedules/test_croniter_deviations.py, without importing
   croniter (~15 ms with python-dateutil: most of a read-only command's budget). ``H`` items
   are resolved and the expression expanded by croniter itself (beat/time/cron_hash.py),
   seeded by the entry name (crc32 of the name: the same in every process and on every
   machine).
3. Corrections (ours, all in :func:`_croniter_item` plus the notes below) where croniter 7.0.0
   departs from cron as cronie/Vixie define it; each is pinned by
   tests/schedules/test_croniter_deviations.py with croniter's raw output next to ours:

   - an equal range (``7-7``, ``23-23``, ``jan-jan``) is the whole field to croniter: we pass
     the single value;
   - ``a/n`` in day-of-week stops at 6 in croniter, at 7 (Sunday again) in cron: we pass
     ``a-7/n``, which croniter wraps correctly;
   - a bare ``H`` in day-of-month draws from 1-31 in croniter (missing short months): we pass
     ``H(1-28)``, as Jenkins does; croniter refuses ``H(a-a)`` and names inside ``H(...)``;
   - the day rule: croniter decides AND/OR while iterating (and its ``implement_cron_bug``
     flag changes that decision for ``*/2``); we never iterate with croniter, so it cannot
     leak: :class:`CronSpec` records whether each day field starts with ``*`` as written and
     beat/time/cron_match.py applies the Vixie rule;
   - ``*`` comes back as ``['*']``, and a full list collapses to it: read as the whole field;
     inside a list (``*,0`` -> ``['*', 0]``) too, where croniter's other values are not the
     whole field;
   - ``nW`` (croniter's ``expand()`` drops the W marker and allows one value only) and ``LW``
     (unknown to croniter) are ours; ``n#k`` mixed with plain weekdays (``1#2,3``) is refused
     by croniter, so the ``#``/``L`` items are expanded apart from the plain ones.

Everything after the fields is ours too: the minute search (beat/time/cron_match.py) and the DST
policy of SPEC 5 (beat/time/cron_dst.py). croniter's own iteration on aware datetimes fires a
fixed-time job twice in a repeated hour, so it only ever sees field text, never a time.

Speed: expansions are cached by text, and ``H`` only re-resolves its own items per entry name
(a few microseconds), so 100k entries sharing expressions load in seconds.

Grammar, per field (case-insensitive names; ``0`` and ``7`` are Sunday)::

    item   := "*" | value | value "-" value        (optionally "/" step)
            | value "/" step                         (means value-max/step)
            | H | H "(" value "-" value ")"          (optionally "/" step)
    dom    += "L" | "LW" | value "W"
    dow    += value "L" | value "#" 1..5
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from beat.errors import ScheduleError
from beat.time import cron_hash

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
_DOM, _DOW = 2, 4
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: dict[int, dict[str, int]] = {
    3: {n: i + 1 for i, n in enumerate(_MONTHS)},
    4: {n: i for i, n in enumerate(_DAYS)},
}
# H's default bounds: croniter's field ranges, except day-of-month 1-28 so the hashed day
# exists in every month (as Jenkins).
_H_BOUNDS = ((0, 59), (0, 23), (1, 28), (1, 12), (0, 6))


class CronSpec(NamedTuple):
    """A validated cron expression as sorted allowed values plus the day extensions.

    Weekdays are 0=Sunday..6=Saturday. ``day_and`` is the Vixie rule: True when the
    day-of-month or day-of-week field starts with ``*`` (both must match), else either may.
    A NamedTuple, as :class:`_Item` and :class:`_Checked`: a frozen dataclass's methods are
    compiled at import, ~0.7 ms each of every command that reads a cron entry (issue 17).
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


# --- validation (step 1) --------------------------------------------------------------------


class _Item(NamedTuple):
    """One validated plain item, its bounds in numbers (names resolved)."""

    kind: str  # "*", "value", "range", "from" (a/n) or "hash"
    start: int
    stop: int
    step: int | None
    text: str  # as written


class _FieldChecker:
    """Checks one field; every error names the field and quotes the offending text."""

    def __init__(self, index: int, text: str) -> None:
        self.index = index
        self.field = FIELD_NAMES[index]
        self.text = text
        self.lo, self.hi = _BOUNDS[index]

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

    def item(self, item: str) -> _Item:
        """A plain item (``*``, ``a``, ``a-b``, ``a/n``, ``H``... with an optional step)."""
        base, slash, step_text = item.partition("/")
        step = self.step(step_text, item) if slash else None
        if base == "*":
            return _Item("*", self.lo, self.hi, step, item)
        if base.upper().startswith("H"):
            return self._hashed(base, step, item)
        if "-" in base:
            a_text, _, b_text = base.partition("-")
            start, stop = self.value(a_text), self.value(b_text)
            if start > stop:
                raise self.error(f"range {base!r} runs backwards (start above end)")
            return _Item("range", start, stop, step, item)
        start = self.value(base)
        return _Item("from" if slash else "value", start, self.hi if slash else start, step, item)

    def _hashed(self, base: str, step: int | None, item: str) -> _Item:
        lo, hi = _H_BOUNDS[self.index]
        rest = base[1:]
        if rest:
            if not (rest.startswith("(") and rest.endswith(")") and "-" in rest):
                raise self.error(f"invalid H form {item!r} (use H, H/n or H(a-b))")
            a_text, _, b_text = rest[1:-1].partition("-")
            lo, hi = self.value(a_text), self.value(b_text)
            if lo > hi:
                raise self.error(f"range {rest!r} in {item!r} runs backwards")
        return _Item("hash", lo, hi, step, item)

    def items(self, text: str) -> list[str]:
        if any(not item for item in text.split(",")):
            raise self.error(f"empty item in {text!r}")
        return text.split(",")


# --- corrections (step 3): croniter's spelling of an item -----------------------------------


def _croniter_item(index: int, item: _Item) -> str:
    """The item as croniter 7.0.0 must read it to give cron's values (see the module notes)."""
    step = "" if item.step is None else f"/{item.step}"
    if item.kind == "hash":
        if item.start == item.stop:
            return str(item.start)  # croniter refuses H(a-a); it can only be a
        # numeric bounds always: croniter's H(...) takes digits only, and a bare H in
        # day-of-month must stay within 1-28
        return f"H({item.start}-{item.stop}){step}"
    if item.kind == "range" and item.start == item.stop:
        return str(item.start)  # croniter: "7-7" is the whole field; cron: just 7
    if item.kind == "from" and index == _DOW:
        # croniter's "a/n" in day-of-week runs to 6; cron's to 7, Sunday again
        return str(item.start) if item.start == 7 else f"{item.start}-7{step}"
    return item.text


class _Checked(NamedTuple):
    """A validated expression: croniter's items per field and the parts that are ours."""

    items: tuple[tuple[str, ...], ...]  # per field; empty when the field has only our items
    hashed: tuple[tuple[int, int], ...]  # (field, position) of each H item in ``items``
    plain: tuple[tuple[int | str, ...], ...] | None  # our expansion; None with an H item
    dom_last_weekday: bool
    dom_nearest: frozenset[int]
    dow_special: str  # the "n#k"/"Ln" items for croniter, "" when none
    dom_star: bool
    dow_star: bool
    wildcard: bool


def _check_dom(checker: _FieldChecker, text: str) -> tuple[list[_Item | str], bool, set[int]]:
    items: list[_Item | str] = []
    last_weekday = False
    nearest: set[int] = set()
    for item in checker.items(text):
        upper = item.upper()
        if upper == "L":
            items.append("L")  # croniter's "l": the last day of the month
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and upper[:-1].isdigit():
            nearest.add(checker.value(upper[:-1]))
        else:
            items.append(checker.item(item))
    return items, last_weekday, nearest


def _check_dow(checker: _FieldChecker, text: str) -> tuple[list[_Item | str], list[str]]:
    items: list[_Item | str] = []
    special: list[str] = []
    for item in checker.items(text):
        upper = item.upper()
        if "#" in item:
            day_text, _, n_text = item.partition("#")
            if not n_text.isdigit() or not 1 <= int(n_text) <= 5:
                raise checker.error(f"'#' needs a week number 1-5 in {item!r}")
            special.append(f"{checker.value(day_text)}#{int(n_text)}")
        elif upper == "L":
            raise checker.error("'L' needs a weekday, e.g. '5L' for the last Friday")
        elif upper.endswith("L"):
            # croniter spells "the last Friday" L5 (and takes digits only there)
            special.append(f"L{checker.value(item[:-1])}")
        else:
            items.append(checker.item(item))
    return items, special


@lru_cache(maxsize=4096)
def _check(text: str) -> _Checked:
    """Validate five fields (the same for every entry name; cached by text)."""
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError("cron", f"expected 5 fields, got {len(fields)}")
    per_field: list[list[_Item | str]] = []
    last_weekday, nearest, special = False, set[int](), list[str]()
    for index, text_of_field in enumerate(fields):  # in order: the first bad field is reported
        checker = _FieldChecker(index, text_of_field)
        if index == _DOM:
            dom, last_weekday, nearest = _check_dom(checker, text_of_field)
            per_field.append(dom)
        elif index == _DOW:
            dow, special = _check_dow(checker, text_of_field)
            per_field.append(dow)
        else:
            per_field.append([checker.item(item) for item in checker.items(text_of_field)])
    items: list[tuple[str, ...]] = []
    hashed: list[tuple[int, int]] = []
    for index, field_items in enumerate(per_field):
        tokens: list[str] = []
        for position, item in enumerate(field_items):
            if isinstance(item, str):
                tokens.append(item)
                continue
            if item.kind == "hash" and item.start != item.stop:
                hashed.append((index, position))
            tokens.append(_croniter_item(index, item))
        items.append(tuple(tokens))
    return _Checked(
        items=tuple(items),
        hashed=tuple(hashed),
        plain=None if hashed else _expand_plain(per_field),
        dom_last_weekday=last_weekday,
        dom_nearest=frozenset(nearest),
        dow_special=",".join(special),
        dom_star=fields[_DOM].startswith("*"),
        dow_star=fields[_DOW].startswith("*"),
        wildcard=fields[0].startswith("*") or fields[1].startswith("*"),
    )


# --- expansion (step 2) --------------------------------------------------------------------


def _item_values(item: _Item | str) -> tuple[int | str, ...]:
    """Cron's values of one item, in croniter's form: ``"l"`` for ``L`` in day-of-month."""
    if isinstance(item, str):
        return ("l",)
    # the checker has already applied the corrections: "a/n" runs to the field's maximum
    # (7 in day-of-week), "a-a" is one value, "*" is the field's bounds
    return tuple(range(item.start, item.stop + 1, item.step or 1))


def _expand_plain(per_field: list[list[_Item | str]]) -> tuple[tuple[int | str, ...], ...]:
    """The allowed values per field of an expression without ``H`` (empty for a field holding
    only our own items): the values croniter gives the corrected items, without croniter."""
    return tuple(tuple(v for item in items for v in _item_values(item)) for items in per_field)


def _expand_special(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    """(weekdays with ``L``, (weekday, n) pairs with ``#``) of the day-of-week items ``Ln`` and
    ``n#k`` (numbers, already checked), as croniter reads them."""
    last, pairs = set[int](), set[tuple[int, int]]()
    for item in text.split(","):
        if item.startswith("L"):
            last.add(int(item[1:]) % 7)
        else:
            day, _, n = item.partition("#")
            pairs.add((int(day) % 7, int(n)))
    return frozenset(last), frozenset(pairs)


def _values(index: int, expanded: tuple[int | str, ...]) -> tuple[int, ...]:
    # croniter keeps "*" as a token inside a list (``*,0`` -> ['*', 0]): the list is the
    # whole field, as in cron, never just its other items.
    if "*" in expanded:
        lo, hi = _H_BOUNDS[index] if index == _DOW else _BOUNDS[index]  # weekdays 0-6
        return tuple(range(lo, hi + 1))
    values = {v % 7 if index == _DOW else v for v in expanded if isinstance(v, int)}
    return tuple(sorted(values))


def _days_possible(spec: CronSpec) -> bool:
    """False when the day fields can never match in the chosen months (e.g. ``* * 30 2 *``)."""
    if not spec.day_and or spec.dom_star or spec.dom_last or spec.dom_last_weekday:
        return True  # a weekday field or a "*"-based day field always finds some day
    longest = max((29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31) for m in spec.months)
    return any(d <= longest for d in spec.dom_values | spec.dom_nearest_weekday)


def _unmacro(expr: str) -> str:
    text = " ".join(expr.split())
    if text.startswith("@"):
        macro = MACROS.get(text.lower())
        if macro is None:
            raise ScheduleError("cron", f"unknown macro {text!r} (known: {', '.join(MACROS)})")
        return macro
    return text


def parse(expr: str, name: str = "") -> CronSpec:
    """Validate ``expr`` (5 fields or a macro) into a :class:`CronSpec`.

    ``name`` seeds ``H``: the same name gives the same values in every process.
    """
    text = _unmacro(expr)
    checked = _check(text)
    return _parse(text, name if checked.hashed else "")


def hash_values(expr: str, name: str) -> tuple[str, ...]:
    """What ``name`` resolves the ``H`` items of ``expr`` to, in order: names resolving
    alike give equal specs (:func:`parse`), so this is what H entries can be shared by. Raises
    what :func:`parse` would for a bad expression."""
    checked = _check(_unmacro(expr))
    items = checked.items
    return tuple(
        cron_hash.resolve_hash(index, items[index][position], name)
        for index, position in checked.hashed
    )


@lru_cache(maxsize=4096)
def _parse(text: str, name: str) -> CronSpec:
    checked = _check(text)
    fields = [list(items) for items in checked.items]
    for index, position in checked.hashed:
        fields[index][position] = cron_hash.resolve_hash(index, fields[index][position], name)
    # A field holding only our own items (15W, LW, 5L, 1#2) gets "*" for croniter; its
    # result is then ignored.
    spec = _spec(" ".join(",".join(items) or "*" for items in fields), checked)
    if not _days_possible(spec):
        original = text.split()
        raise ScheduleError(
            "day-of-month", f"{original[_DOM]!r} never occurs in month field {original[3]!r}"
        )
    return spec


@lru_cache(maxsize=4096)
def _spec(resolved: str, checked: _Checked) -> CronSpec:
    """The spec of croniter's text (``H`` resolved) plus our parts: entries whose names hash
    to the same values share one (equal) spec."""
    expanded = checked.plain if checked.plain is not None else cron_hash.expand(resolved)
    dom_raw = expanded[_DOM] if checked.items[_DOM] else ()
    dow_last, dow_nth = (
        _expand_special(checked.dow_special) if checked.dow_special else (frozenset(), frozenset())
    )
    return CronSpec(
        minutes=_values(0, expanded[0]),
        hours=_values(1, expanded[1]),
        months=_values(3, expanded[3]),
        dom_values=frozenset(_values(_DOM, dom_raw)) if dom_raw else frozenset(),
        dom_last="l" in dom_raw,
        dom_last_weekday=checked.dom_last_weekday,
        dom_nearest_weekday=checked.dom_nearest,
        dow_values=(
            frozenset(_values(_DOW, expanded[_DOW])) if checked.items[_DOW] else frozenset()
        ),
        dow_last=dow_last,
        dow_nth=dow_nth,
        dom_star=checked.dom_star,
        dow_star=checked.dow_star,
        wildcard=checked.wildcard,
    )
