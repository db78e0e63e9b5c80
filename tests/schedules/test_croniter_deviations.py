"""croniter 7.0.0 under our cron fields: each known deviation, croniter's raw output next to ours.

beat/time/cron_fields.py corrects croniter's spelling of the items in one place and expands them
itself (croniter expands only expressions with ``H``); these tests show what croniter itself
says (so a croniter upgrade that changes it is noticed) and what beat says, check every
single-item form against a small reference of cron's semantics, and check that our expansion
gives croniter's values for the corrected items.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from croniter import CroniterError, croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from beat.errors import ScheduleError
from beat.time import cron_fields
from beat.time.cron_fields import parse
from beat.time.schedules import Cron

UTC_ZONE = ZoneInfo("UTC")
NEW_YORK = ZoneInfo("America/New_York")
BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def field_values(index: int, item: str) -> set[int]:
    """Our allowed values for ``item`` placed in field ``index`` (``*`` elsewhere)."""
    fields = ["*"] * 5
    fields[index] = item
    spec = parse(" ".join(fields))
    return set((spec.minutes, spec.hours, spec.dom_values, spec.months, spec.dow_values)[index])


def raw(expr: str, name: str | None = None) -> list[list[int | str]]:
    expanded, _ = croniter.expand(expr, hash_id=None if name is None else name.encode())
    return list(expanded)


def fires(
    expr: str, after: datetime, n: int, zone: ZoneInfo = UTC_ZONE, name: str = ""
) -> list[str]:
    schedule = Cron(expr, zone, name=name)
    return [f.astimezone(zone).isoformat() for f in islice(schedule.iter_after(after), n)]


def croniter_fires(expr: str, after: datetime, n: int, **kwargs: bool) -> list[str]:
    it = croniter(expr, after, **kwargs)
    return [it.get_next(datetime).isoformat() for _ in range(n)]


# --- reference: cron's meaning of one item, written out plainly ------------------------------


def reference(index: int, item: str) -> set[int]:
    lo, hi = BOUNDS[index]
    names = {
        3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    }

    def value(text: str) -> int:
        if index in names and text.lower() in names[index]:
            return names[index].index(text.lower()) + (1 if index == 3 else 0)
        return int(text)

    base, _, step_text = item.partition("/")
    step = int(step_text) if step_text else 1
    if base == "*":
        start, stop = lo, (6 if index == 4 else hi)
    elif "-" in base:
        a, b = base.split("-")
        start, stop = value(a), value(b)
    else:
        start = value(base)
        stop = hi if step_text else start
    values = set(range(start, stop + 1, step))
    return {v % 7 for v in values} if index == 4 else values


def every_item(index: int) -> list[str]:
    lo, hi = BOUNDS[index]
    items = [str(v) for v in range(lo, hi + 1)]
    for a in range(lo, hi + 1):
        items += [f"{a}/{n}" for n in range(1, hi - lo + 3)]
        for b in range(a, hi + 1):
            items += [f"{a}-{b}"] + [f"{a}-{b}/{n}" for n in range(1, hi - lo + 3)]
    return items + [f"*/{n}" for n in range(1, hi - lo + 3)]


@pytest.mark.parametrize("index", [3, 4])
def test_every_month_and_weekday_item_means_what_cron_means(index: int) -> None:
    # exhaustive for the two short fields, where the 7-is-Sunday and equal-range corrections
    # live: every value, range, a/n and step
    wrong = [
        item for item in every_item(index) if field_values(index, item) != reference(index, item)
    ]
    assert wrong == []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0, 1, 2]), st.data())
def test_minute_hour_and_day_items_mean_what_cron_means(index: int, data: st.DataObject) -> None:
    lo, hi = BOUNDS[index]
    a = data.draw(st.integers(lo, hi))
    b = data.draw(st.integers(a, hi))
    n = data.draw(st.integers(1, hi + 2))
    item = data.draw(st.sampled_from([f"{a}", f"{a}-{b}", f"{a}-{b}/{n}", f"{a}/{n}", f"*/{n}"]))
    assert field_values(index, item) == reference(index, item), item


def test_lists_union_their_items() -> None:
    assert field_values(0, "5,10-12,50/5,7-7") == {5, 7, 10, 11, 12, 50, 55}
    assert field_values(4, "mon,fri/2,sat-7") == {0, 1, 5, 6}


# --- each deviation: croniter's raw output, then ours ---------------------------------------


def test_single_value_ranges() -> None:
    assert raw("0 23-23 7-7 * *") == [[0], ["*"], ["*"], ["*"], ["*"]]  # croniter: "*"
    assert raw("* * * jan-jan sun-sun")[3:] == [["*"], ["*"]]
    spec = parse("0 23-23 7-7 jan-jan sun-sun")
    assert (spec.hours, spec.months) == ((23,), (1,))
    assert spec.dom_values == {7} and spec.dow_values == {0}
    assert field_values(0, "5-5/10") == {5}
    assert fires("0 23-23 7-7 * *", datetime(2026, 1, 1, tzinfo=UTC), 2) == [
        "2026-01-07T23:00:00+00:00",
        "2026-02-07T23:00:00+00:00",
    ]


def test_step_in_a_day_field_keeps_the_vixie_and() -> None:
    # croniter's values for */2 are right (the odd days); the AND/OR choice is made while
    # iterating: OR by default, AND only with implement_cron_bug=True.
    assert raw("0 0 */2 * 1")[2] == list(range(1, 32, 2))
    start = datetime(2026, 5, 31, tzinfo=UTC)
    assert croniter_fires("0 0 */2 * 1", start, 3) == [
        "2026-06-01T00:00:00+00:00",
        "2026-06-03T00:00:00+00:00",  # a Wednesday: OR
        "2026-06-05T00:00:00+00:00",
    ]
    and_rule = croniter_fires("0 0 */2 * 1", start, 3, implement_cron_bug=True)
    # ours is the Vixie AND rule (SPEC 5), with croniter never doing the iterating
    assert (
        fires("0 0 */2 * 1", start, 3)
        == and_rule
        == [
            "2026-06-01T00:00:00+00:00",
            "2026-06-15T00:00:00+00:00",
            "2026-06-29T00:00:00+00:00",
        ]
    )
    assert parse("0 0 */2 * 1").day_and and parse("0 0 1-31 * */1").day_and
    assert not parse("0 0 1-31 * 1").day_and  # neither starts with "*": OR
    # croniter collapses a full list to "*"; ours keeps the values and the rule as written
    assert raw("0 0 1-31 * *")[2] == ["*"]
    assert fires("0 0 1-31 * 1", datetime(2026, 6, 1, tzinfo=UTC), 2) == [
        "2026-06-02T00:00:00+00:00",
        "2026-06-03T00:00:00+00:00",
    ]


def test_a_list_that_begins_with_a_star_is_the_whole_field_and_unrestricted() -> None:
    # croniter keeps the "*" inside the list; its other values alone are not the field.
    assert raw("* * * * *,0")[4] == ["*", 0]
    assert field_values(4, "*,0") == set(range(7))
    assert field_values(0, "*,5") == set(range(60))
    # Vixie: a day field that begins with "*" is unrestricted, so the day rule is AND and
    # "*,0" alone lets every day through.
    assert parse("0 0 1 * *,0").day_and
    assert fires("* * * * *,0", datetime(2026, 1, 1, tzinfo=UTC), 2) == [  # a Thursday
        "2026-01-01T00:01:00+00:00",
        "2026-01-01T00:02:00+00:00",
    ]
    assert fires("0 0 1 * *,0", datetime(2026, 1, 1, tzinfo=UTC), 3) == [
        "2026-02-01T00:00:00+00:00",
        "2026-03-01T00:00:00+00:00",
        "2026-04-01T00:00:00+00:00",  # a Wednesday: not only the Sunday firsts
    ]
    assert fires("0 0 *,15 * 1", datetime(2026, 6, 1, tzinfo=UTC), 2) == [
        "2026-06-08T00:00:00+00:00",  # every Monday: dom "*,15" is unrestricted
        "2026-06-15T00:00:00+00:00",
    ]


def test_seven_is_sunday_also_as_the_start_of_a_step() -> None:
    # croniter agrees on 7, 5-7 and 1-7/2 ...
    assert raw("0 0 * * 7")[4] == [0]
    assert raw("0 0 * * 5-7")[4] == [0, 5, 6]
    assert raw("0 0 * * 1-7/2")[4] == [0, 1, 3, 5]
    # ... but runs "a/n" only to 6: 1/2 loses Sunday-as-7, 7/2 becomes 0,2,4,6
    assert raw("0 0 * * 1/2")[4] == [1, 3, 5]
    assert raw("0 0 * * 7/2")[4] == [0, 2, 4, 6]
    assert raw("0 0 * * fri/2")[4] == [5]
    assert field_values(4, "1/2") == {0, 1, 3, 5}
    assert field_values(4, "7/2") == {0}
    assert field_values(4, "fri/2") == {0, 5}


def test_names_are_croniters() -> None:
    assert raw("0 0 * Jan,jUL mon-WED")[3:] == [[1, 7], [1, 2, 3]]
    spec = parse("0 0 * Jan,jUL mon-WED")
    assert spec.months == (1, 7) and spec.dow_values == {1, 2, 3}


def test_hashed_items_are_croniters_values() -> None:
    # ours resolves H item by item with croniter's own expander: the same values croniter's
    # expand() gives the whole expression for the same hash_id
    for name in ("payroll", "nightly-report", "job-7", ""):
        for expr in ("H H * * *", "H/15 H(1-3) * * *", "H(0-29) * * H H"):
            theirs = raw(expr, name)
            spec = parse(expr, name)
            ours = [
                list(spec.minutes),
                list(spec.hours),
                [],
                list(spec.months),
                sorted(spec.dow_values),
            ]
            for index, values in enumerate(theirs):
                if index != 2 and values != ["*"]:
                    assert ours[index] == values, (expr, name, index)
            assert len(spec.minutes) == len(theirs[0])


def test_hashed_day_of_month_stays_within_28() -> None:
    # croniter draws a bare H in day-of-month from 1-31 (job-16 gets the 29th: no February)
    assert raw("0 0 H * *", "job-16")[2] == [29]
    days = {min(parse("0 0 H * *", f"job-{i}").dom_values) for i in range(200)}
    assert max(days) <= 28 and len(days) > 20
    # croniter refuses an equal H range; ours is that value
    with pytest.raises(CroniterError):
        croniter.expand("H(5-5) * * * *", hash_id=b"x")
    assert parse("H(5-5) * * * *", "x").minutes == (5,)
    # croniter cannot hash inside a list; ours can
    with pytest.raises(CroniterError):
        croniter.expand("H,30 * * * *", hash_id=b"x")
    assert 30 in parse("H,30 * * * *", "x").minutes


def test_last_weekday_and_nth_weekday() -> None:
    # croniter spells the last Friday L5 and refuses 5L; "#" is croniter's as written
    with pytest.raises(CroniterError):
        croniter.expand("0 9 * * 5L")
    assert croniter.expand("0 9 * * L5")[1] == {5: {"l"}}
    assert parse("0 9 * * 5L").dow_last == {5} and parse("0 9 * * 7L").dow_last == {0}
    assert croniter.expand("0 9 * * thu#5")[1] == {4: {5}}
    assert parse("0 9 * * thu#5").dow_nth == {(4, 5)}
    # croniter refuses "#" next to a plain weekday; ours is the second Monday OR a Wednesday
    with pytest.raises(CroniterError):
        croniter.expand("0 9 * * 1#2,3")
    assert fires("0 9 * * 1#2,3", datetime(2026, 6, 1, tzinfo=UTC), 3) == [
        "2026-06-03T09:00:00+00:00",
        "2026-06-08T09:00:00+00:00",
        "2026-06-10T09:00:00+00:00",
    ]


def test_nearest_weekday_and_last_weekday_are_ours() -> None:
    # expand() drops croniter's W marker: 15W reads as plain 15
    assert raw("0 9 15W * *")[2] == [15]
    assert parse("0 9 15W * *").dom_nearest_weekday == {15}
    assert not parse("0 9 15W * *").dom_values
    for expr in ("0 9 LW * *", "0 9 1W,15 * *"):
        with pytest.raises(CroniterError):
            croniter.expand(expr)
    spec = parse("0 9 1W,15,LW * *")
    assert spec.dom_values == {15} and spec.dom_nearest_weekday == {1} and spec.dom_last_weekday
    assert raw("0 9 L,15 * *")[2] == [15, "l"]
    assert parse("0 9 L,15 * *").dom_last


def test_fixed_time_fires_once_in_a_repeated_hour() -> None:
    # croniter iterating on aware New York times fires 01:30 on both passes of 2026-11-01;
    # SPEC 5 (ours, beat/time/cron_dst.py): a fixed-time job fires on the first pass only
    start = datetime(2026, 10, 31, 12, tzinfo=NEW_YORK)
    assert croniter_fires("30 1 * * *", start, 3) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-02T01:30:00-05:00",
    ]
    assert fires("30 1 * * *", start, 2, NEW_YORK) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]
    # a wildcard job fires on both passes in both
    start = datetime(2026, 11, 1, 0, 45, tzinfo=NEW_YORK)
    assert fires("30 * * * *", start, 3, NEW_YORK) == croniter_fires("30 * * * *", start, 3)


def test_croniter_is_imported_only_for_a_hashed_cron() -> None:
    # croniter (with python-dateutil) is ~15 ms of every read-only command's start-up: only an
    # expression with H needs it (beat/time/cron_hash.py)
    code = (
        "import sys\n"
        "import beat.time.schedules\n"
        "from zoneinfo import ZoneInfo\n"
        "for expr in ('30 2 * * *', '0 9 L,15W * 1#2,5L', '@daily', 'H(3-3) */5 * jan-mar 7'):\n"
        "    beat.time.schedules.Cron(expr, ZoneInfo('UTC'))\n"
        "assert 'croniter' not in sys.modules, 'imported without H'\n"
        "assert 'dateutil' not in sys.modules, 'imported without H'\n"
        "beat.time.schedules.Cron('H 2 * * *', ZoneInfo('UTC'), name='x')\n"
        "assert 'croniter' in sys.modules, 'not used'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- our expansion against croniter's --------------------------------------------------------


def croniters_spec(expr: str) -> object:
    """``parse(expr)`` as it was when croniter expanded every expression: the corrected items
    through ``croniter.expand``, and the day-of-week ``#``/``L`` items through it apart."""
    checked = cron_fields._check(cron_fields._unmacro(expr))
    text = " ".join(",".join(items) or "*" for items in checked.items)
    spec = cron_fields._spec(text, checked._replace(plain=None))
    if not checked.dow_special:
        return spec
    _, nth = croniter.expand(f"* * * * {checked.dow_special}")
    last = frozenset(int(day) % 7 for day, ns in nth.items() if "l" in ns)
    pairs = frozenset((int(day) % 7, n) for day, ns in nth.items() for n in ns if n != "l")
    return spec._replace(dow_last=last, dow_nth=pairs)


def _item(index: int) -> st.SearchStrategy[str]:
    lo, hi = BOUNDS[index]
    names = {3: ["jan", "Feb", "DEC"], 4: ["sun", "Mon", "SAT"]}.get(index, [])
    value = st.one_of(st.integers(lo, hi).map(str), *[st.just(n) for n in names])
    step = st.integers(1, hi + 2).map(lambda n: f"/{n}")
    extra = {2: ["L", "15W", "LW"], 4: ["5L", "7L", "1#2", "7#5", "thu#3"]}.get(index, [])
    return st.one_of(
        st.tuples(value, step).map("".join),
        st.tuples(st.integers(lo, hi), st.integers(lo, hi), st.one_of(st.just(""), step)).map(
            lambda t: f"{min(t[:2])}-{max(t[:2])}{t[2]}"
        ),
        value,
        st.one_of(st.just(""), step).map(lambda s: f"*{s}"),
        *[st.just(e) for e in extra],
    )


@settings(max_examples=400, deadline=None)
@given(
    st.tuples(*[st.lists(_item(i), min_size=1, max_size=3).map(",".join) for i in range(5)]).map(
        " ".join
    )
)
def test_our_expansion_gives_croniters_values(expr: str) -> None:
    try:
        ours = parse(expr)
    except ScheduleError:
        with pytest.raises(ScheduleError):  # e.g. "31 2": refused before either expands
            croniters_spec(expr)
        return
    assume(not _croniter_counts_l_as_a_day(expr))  # a deviation, shown below
    assert ours == croniters_spec(expr), expr


def _croniter_counts_l_as_a_day(expr: str) -> bool:
    """Whether croniter reads the day-of-month list as ``*`` only because it counted ``L``
    among its 31 values."""
    checked = cron_fields._check(cron_fields._unmacro(expr))
    if "l" not in [item.lower() for item in checked.items[2]]:
        return False
    fields = ["*", "*", ",".join(checked.items[2]), "*", "*"]
    try:
        return bool(croniter.expand(" ".join(fields))[0][2] == ["*"])
    except CroniterError:
        return False


def test_croniter_reads_thirty_days_and_l_as_every_day() -> None:
    """croniter 7.0.0 counts ``L`` as one of the month's 31 days: a list of 30 days plus ``L``
    collapses to ``*`` and day 2 fires. beat keeps the list (found by the property test
    above with hypothesis)."""
    expr = "* * 3/1,L,1/2 Feb *"
    assert croniter.expand(expr)[0][2] == ["*"]
    assert _croniter_counts_l_as_a_day(expr)
    spec = parse(expr)
    assert 2 not in spec.dom_values and 1 in spec.dom_values and spec.dom_last
    assert not _croniter_counts_l_as_a_day("* * 3/1,L Feb *")


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4])
def test_our_expansion_of_single_items_is_croniters(index: int) -> None:
    # every item of the two short fields; in the others, each "a-max/n" and the day extras
    lo, hi = BOUNDS[index]
    if index >= 3:
        items = every_item(index)
    else:
        items = [f"{a}-{hi}/{n}" for a in (lo, lo + 1, 7) for n in range(1, hi + 2)]
    if index == 2:
        items += ["*", "L", "L,*", "*,L", "L,1-31", "15W,L", "LW,3"]
    for item in items:
        fields = ["0", "0", "*", "*", "*"]
        fields[index] = item
        expr = " ".join(fields)
        assert parse(expr) == croniters_spec(expr), expr
