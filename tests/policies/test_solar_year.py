"""Solar schedules against astral for a whole year at three latitudes (one above the Arctic
Circle), astral's answers computed here independently, per local mean solar day."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import dawn, dusk, elevation, noon, sunrise, sunset

from beat.entries import CatchUp, Entry
from beat.planner import first_state, plan_entry
from beat.time.solar import Solar

# Celery's events and the astral call each means, written independently of beat.time.solar's
# table (depression in degrees below the horizon for each twilight).
DEPRESSION = {"astronomical": 18, "nautical": 12, "civil": 6}
ASTRAL = {"sunrise": sunrise, "solar_noon": noon, "sunset": sunset} | {
    f"{name}_{twilight}": partial(event, depression=degrees)
    for name, event in (("dawn", dawn), ("dusk", dusk))
    for twilight, degrees in DEPRESSION.items()
}
RISING = {"dawn_astronomical", "dawn_nautical", "dawn_civil", "sunrise"}
PLACES = {
    "berlin": (52.52, 13.40),
    "tromso": (69.65, 18.96),  # above the Arctic Circle: polar night and midnight sun
    "sydney": (-33.87, 151.21),
}
YEAR = 2026
UTC_ZONE = ZoneInfo("UTC")


def _astral_year(event: str, lat: float, lon: float) -> list[datetime]:
    """astral's instant of ``event`` for each day of YEAR that has one (the day in the local
    mean solar time of ``lon``, whole hours from UTC)."""
    zone = timezone(timedelta(hours=round(lon / 15)))
    out = []
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        with contextlib.suppress(ValueError):  # the sun does not reach the event that day
            out.append(ASTRAL[event](Observer(lat, lon), day, tzinfo=zone).astimezone(UTC))
        day += timedelta(days=1)
    return out


def _beat_year(event: str, lat: float, lon: float) -> list[datetime]:
    zone = timezone(timedelta(hours=round(lon / 15)))
    lo = datetime(YEAR, 1, 1, tzinfo=zone)
    hi = datetime(YEAR + 1, 1, 1, tzinfo=zone)
    out = []
    for fire in Solar(event, lat, lon, UTC_ZONE).iter_after(lo - timedelta(microseconds=1)):
        if fire >= hi:
            break
        out.append(fire)
    return out


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("event", list(ASTRAL))
def test_every_fire_of_a_year_is_astrals_answer(place: str, event: str) -> None:
    lat, lon = PLACES[place]
    expected = _astral_year(event, lat, lon)
    fires = _beat_year(event, lat, lon)
    assert len(fires) == len(expected)
    for fire, want in zip(fires, expected, strict=True):
        assert fire.tzinfo is UTC
        assert abs(fire - want) < timedelta(minutes=1), (fire, want)
    # Independently of the dates: each fire is the event itself (the sun rising through the
    # depression for dawns, setting for dusks, at its highest for noon).
    observer = Observer(lat, lon)
    minute = timedelta(minutes=1)
    for fire in fires[::7]:
        before, after = (
            elevation(observer, fire + d, with_refraction=False) for d in (-minute, minute)
        )
        if event == "solar_noon":
            assert elevation(observer, fire, with_refraction=False) >= max(before, after) - 1e-3
        else:
            assert (after > before) is (event in RISING)


def test_polar_night_and_midnight_sun_have_no_fire() -> None:
    lat, lon = PLACES["tromso"]
    sunrises = _beat_year("sunrise", lat, lon)
    sunsets = _beat_year("sunset", lat, lon)
    noons = _beat_year("solar_noon", lat, lon)
    assert len(noons) == 365  # the sun culminates every day, up or not
    dark = [f for f in sunrises if date(YEAR, 12, 1) <= f.date() <= date(YEAR, 12, 31)]
    bright = [f for f in sunsets if date(YEAR, 6, 1) <= f.date() <= date(YEAR, 7, 15)]
    assert dark == [] and bright == []
    assert 300 > len(sunrises) > 200
    # The longest gap between sunrises is the polar night, weeks long.
    gaps = [b - a for a, b in itertools.pairwise(sunrises)]
    assert max(gaps) > timedelta(days=40)


def test_catch_up_over_a_polar_night_sends_the_latest_sunrise_only() -> None:
    """The planner's guarantees hold for solar entries: missed fires per catch_up, exact ids."""
    lat, lon = PLACES["tromso"]
    entry = Entry("sun", "t", Solar("sunrise", lat, lon, UTC_ZONE), catch_up=CatchUp.LATEST)
    seen = datetime(YEAR, 11, 1, tzinfo=UTC)
    state = first_state(entry, seen, None)
    now = datetime(YEAR + 1, 2, 1, 12, tzinfo=UTC)
    plan = plan_entry(entry, state, now)
    expected = [f for f in _astral_year("sunrise", lat, lon) if f > seen]
    expected += [f for f in _astral_year_next("sunrise", lat, lon) if f <= now]
    (fire,) = plan.fires
    assert abs(fire.scheduled_for - expected[-1]) < timedelta(minutes=1)
    assert fire.id == f"sun@{int(fire.scheduled_for.timestamp() * 1000)}"
    assert sum(s.count for s in plan.skipped) == len(expected) - 1
    assert plan.next_fire is not None and plan.next_fire > now


def _astral_year_next(event: str, lat: float, lon: float) -> list[datetime]:
    zone = timezone(timedelta(hours=round(lon / 15)))
    out = []
    for n in range(40):
        day = date(YEAR + 1, 1, 1) + timedelta(days=n)
        with contextlib.suppress(ValueError):
            out.append(ASTRAL[event](Observer(lat, lon), day, tzinfo=zone).astimezone(UTC))
    return out
