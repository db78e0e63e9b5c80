"""Local wall clock <-> real instants, and the DST policy of SPEC 5.

A naive local minute is *normal* (one instant), in a *gap* (skipped by a forward change: no
instant) or in a *fold* (repeated by a backward change: two instants). zoneinfo tells them
apart through PEP 495's ``fold``: for a gap, fold=0 reads the offset before the change and
fold=1 the one after (so fold=0's offset is the smaller); for a fold it is the other way.

Policies:
- wildcard cron jobs fire at every real instant whose local minute matches (gap minutes never,
  fold minutes on both passes);
- fixed-time jobs (fixed cron, calendar, local one-offs) fire once per matching local minute:
  a fold on its first pass only, a gap once, at the instant of the change.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    # A matcher is built by beat.time.schedules; the DST rules here (the fixed-time rule of
    # an `at:`, beat next's DST notes) need no cron parser (issue 17).
    from beat.time.cron_match import Matcher

_MINUTE = timedelta(minutes=1)
NORMAL, GAP, FOLD = 0, 1, 2


def classify(wall: datetime, zone: ZoneInfo) -> tuple[int, datetime, datetime]:
    """(kind, first instant, second instant) of naive ``wall``, instants as aware UTC.

    For a gap both instants are only the two readings zoneinfo offers; use
    :func:`gap_change` for the real instant of the change.
    """
    local = wall.replace(tzinfo=zone, fold=0)
    off0 = local.utcoffset()
    off1 = local.replace(fold=1).utcoffset()
    assert off0 is not None and off1 is not None
    naive_utc = wall.replace(tzinfo=UTC, fold=0)
    if off0 == off1:
        inst = naive_utc - off0
        return NORMAL, inst, inst
    return (FOLD if off0 > off1 else GAP), naive_utc - off0, naive_utc - off1


def gap_change(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant of the forward change that skips naive ``wall``: the first instant after
    the gap. Bisects over whole seconds between zoneinfo's two readings of ``wall``."""
    _, late, early = classify(wall, zone)  # fold=0 (old offset) reads later in a gap
    return _change_between(early, late, zone)


def _change_between(early: datetime, late: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second after ``early`` at which ``zone``'s offset is no longer
    ``early``'s; ``late`` is at or after that change (bisection: zone changes happen on whole
    seconds)."""
    old_offset = early.astimezone(zone).utcoffset()
    lo, hi = 0, int((late - early).total_seconds())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (early + timedelta(seconds=mid)).astimezone(zone).utcoffset() == old_offset:
            lo = mid
        else:
            hi = mid
    return early + timedelta(seconds=hi)


def resolve_fixed(wall: datetime, zone: ZoneInfo) -> datetime:
    """The one instant a fixed-time schedule fires for naive ``wall`` (fold: first pass;
    gap: the instant of the change)."""
    kind, first, _ = classify(wall, zone)
    if kind == GAP:
        return gap_change(wall, zone)
    return first


def _floor_minute(wall: datetime) -> datetime:
    return wall.replace(second=0, microsecond=0)


_DAY = timedelta(days=1)


@lru_cache(maxsize=2048)
def _changes(zone: ZoneInfo, year: int) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
    """The UTC instants in ``year`` at which ``zone``'s offset changes, and for each the
    instant its repeated period starts (the change itself for a forward change).

    zoneinfo does not expose its transitions, so sample one offset per day and bisect each
    change to the second (changes are days apart in every real zone).
    """
    instants: list[datetime] = []
    fold_starts: list[datetime] = []
    day = datetime(year, 1, 1, tzinfo=UTC)
    offset = day.astimezone(zone).utcoffset()
    while day.year == year:
        nxt = day + _DAY
        new = nxt.astimezone(zone).utcoffset()
        if new != offset:
            assert offset is not None and new is not None
            change = _change_between(day, nxt, zone)
            instants.append(change)
            fold_starts.append(change - (offset - new) if new < offset else change)
            offset = new
        day = nxt
    return tuple(instants), tuple(fold_starts)


@lru_cache(maxsize=2048)
def _around(zone: ZoneInfo, year: int) -> tuple[tuple[datetime, ...], ...]:
    """The changes of ``year`` and its neighbours: (instants, unsafe-from, unsafe-until)."""
    instants: list[datetime] = []
    unsafe_from: list[datetime] = []
    unsafe_until: list[datetime] = []
    for y in (year - 1, year, year + 1):
        changes, fold_starts = _changes(zone, y)
        instants += changes
        unsafe_from += fold_starts
        # a backward change repeats the same length after it as before it
        unsafe_until += [c + (c - f) for c, f in zip(changes, fold_starts, strict=True)]
    return tuple(instants), tuple(unsafe_from), tuple(unsafe_until)


# Per zone, the last window found by _simple_until: (from, until, answer). Consecutive
# questions for a zone almost always fall in the same window, which saves the search.
_last_window: dict[ZoneInfo, tuple[datetime, datetime, datetime]] = {}


def _simple_until(zone: ZoneInfo, after: datetime) -> datetime | None:
    """The instant until which one offset applies and no local minute repeats, counted from
    ``after``; None when ``after`` sits in a repeated period (either pass)."""
    window = _last_window.get(zone)
    if window is not None and window[0] <= after < window[1]:
        return window[2]
    instants, unsafe_from, unsafe_until = _around(zone, after.year)
    i = bisect_right(instants, after)
    start = datetime(after.year - 1, 1, 1, tzinfo=UTC)
    if i > 0:
        if after < unsafe_until[i - 1]:
            return None  # second pass of the previous change
        start = unsafe_until[i - 1]
    if i < len(instants):
        if after >= unsafe_from[i]:
            return None
        until = instants[i]
        end = unsafe_from[i]
    else:
        until = end = datetime(after.year + 2, 1, 1, tzinfo=UTC)
    _last_window[zone] = (start, end, until)
    return until


def next_cron(matcher: Matcher, zone: ZoneInfo, wildcard: bool, after: datetime) -> datetime | None:
    """The first fire strictly after ``after`` (aware UTC) under the SPEC 5 DST policy."""
    local = after.astimezone(zone)
    if 1 < after.year < 9998:
        # Fast path: the next matching minute lies before the zone's next change, and we are
        # not inside a repeated period, so one offset applies throughout.
        until = _simple_until(zone, after)
        if until is not None:
            found = matcher.first_fields(
                local.year, local.month, local.day, local.hour, local.minute + 1
            )
            if found is not None:
                offset = local.utcoffset()
                assert offset is not None
                fire = datetime(*found, tzinfo=UTC) - offset
                if fire < until:
                    return fire
    return _next_cron_slow(matcher, zone, wildcard, after, local)


def _next_cron_slow(
    matcher: Matcher, zone: ZoneInfo, wildcard: bool, after: datetime, local: datetime
) -> datetime | None:
    wall = local.replace(tzinfo=None)
    offset = local.utcoffset()
    assert offset is not None
    second_pass = None
    if wildcard and local.fold == 0:
        other = local.replace(fold=1).utcoffset()
        assert other is not None
        if other < offset:
            # ``after`` is on the first pass of a fold: the second pass of minutes at or
            # before ``wall`` is still ahead; the earliest such minute is a candidate.
            second_pass = _second_pass(matcher, zone, wall, offset - other)
    m = matcher.first_from(_floor_minute(wall) + _MINUTE)
    while m is not None:
        kind, first, second = classify(m, zone)
        if kind == NORMAL:
            found = first
            break
        if kind == FOLD:
            if first > after:
                return first  # first-pass instants precede every second-pass one
            if wildcard and second > after:
                found = second
                break
        elif not wildcard:
            found = gap_change(m, zone)  # once, at the change; later gap minutes are before it
            break
        m = matcher.first_from(m + _MINUTE)
    else:
        return second_pass
    if second_pass is not None and second_pass < found:
        return second_pass
    return found


def _second_pass(
    matcher: Matcher, zone: ZoneInfo, wall: datetime, length: timedelta
) -> datetime | None:
    m = matcher.first_from(_floor_minute(wall - length) + _MINUTE)
    while m is not None and m <= wall:
        kind, _, second = classify(m, zone)
        if kind == FOLD:
            return second
        m = matcher.first_from(m + _MINUTE)
    return None


def last_change(zone: ZoneInfo, instant: datetime) -> tuple[datetime, timedelta] | None:
    """The latest change of ``zone``'s offset at or before aware ``instant`` (within a year
    or two), and how far the clock jumped (positive: forward); None when there is none."""
    for year in (instant.year, instant.year - 1):
        if not 1 < year < 9999:  # a year's search reaches into its neighbours
            continue
        changes, _ = _changes(zone, year)
        i = bisect_right(changes, instant)
        if i:
            return changes[i - 1], _jump(zone, changes[i - 1])
    return None


@lru_cache(maxsize=2048)
def _jump(zone: ZoneInfo, change: datetime) -> timedelta:
    after = change.astimezone(zone).utcoffset()
    before = (change - timedelta(seconds=1)).astimezone(zone).utcoffset()
    assert after is not None and before is not None
    return after - before


def changes_between(
    zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, timedelta]]:
    """Every change of ``zone``'s offset in [``start``, ``end``) (aware instants), with how far
    the clock jumped (positive: forward), in order: the DST marks of the dashboard's timeline."""
    found: dict[datetime, timedelta] = {}
    for year in range(start.year, end.year + 1):
        if not 1 < year < 9999:
            continue
        for change in _around(zone, year)[0]:
            if start <= change < end:
                found[change] = _jump(zone, change)
    return sorted(found.items())
