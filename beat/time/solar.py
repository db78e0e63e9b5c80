"""``solar:``: fires at a sun event (Celery's nine) at a latitude and longitude, via astral.

Celery's ``solar`` schedule asks ephem for the next rising/setting/transit with a horizon per
event (-18, -12, -6 degrees for the twilights, -0:34 for sunrise and sunset, the transit for
noon). astral (3.2) computes the same events per date: ``dawn``/``dusk`` with a
``depression`` of 18, 12 or 6 degrees, ``sunrise``/``sunset`` (refraction and the sun's radius
included) and ``noon``. astral raises ValueError when the sun never reaches the event's
elevation that day (polar day or night): such a day has no fire.

Days are the observer's local mean solar days (UTC offset ``round(lon / 15)`` hours), so each
event falls on one date and consecutive dates give increasing instants. Fires are UTC instants;
results are cached per (event, place, date): catch-up walks and ``beat next`` ask repeatedly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache, partial
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import dawn, dusk, noon, sunrise, sunset

from beat.errors import ScheduleError
from beat.time.schedules import Walked

_Event = Callable[..., datetime]
EVENTS: dict[str, _Event] = {
    "dawn_astronomical": partial(dawn, depression=18),
    "dawn_nautical": partial(dawn, depression=12),
    "dawn_civil": partial(dawn, depression=6),
    "sunrise": sunrise,
    "solar_noon": noon,
    "sunset": sunset,
    "dusk_civil": partial(dusk, depression=6),
    "dusk_nautical": partial(dusk, depression=12),
    "dusk_astronomical": partial(dusk, depression=18),
}
# Longer than any polar night or day: with no event in that many days there is none ever.
SEARCH_DAYS = 400
# Consecutive fires further apart than this skip at least one day (polar day or night).
_DAY_GAP = timedelta(hours=36)


def solar_day_zone(lon: float) -> timezone:
    """The fixed offset of the local mean solar day at longitude ``lon``."""
    return timezone(timedelta(hours=round(lon / 15)))


@lru_cache(maxsize=1 << 14)
def event_on(event: str, lat: float, lon: float, day: date) -> datetime | None:
    """The instant of ``event`` on the local solar ``day`` (UTC), None when the sun does not
    reach it that day."""
    try:
        found = EVENTS[event](Observer(lat, lon), day, tzinfo=solar_day_zone(lon))
    except ValueError:  # polar day or night (or the event slips to a neighbouring day)
        return None
    # Whole seconds: astral is not more precise than that, and fire ids read cleaner.
    instant = found.astimezone(UTC).replace(tzinfo=UTC)
    return instant.replace(microsecond=0) + timedelta(seconds=instant.microsecond >= 500_000)


@dataclass(frozen=True, slots=True)
class Solar(Walked):
    """Fires at ``event`` each day it happens at (``lat``, ``lon``); ``zone`` is for display."""

    event: str
    lat: float
    lon: float
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ScheduleError("event", f"unknown event {self.event!r} (use {', '.join(EVENTS)})")
        if not -90 <= self.lat <= 90:
            raise ScheduleError("lat", f"must be between -90 and 90, got {self.lat}")
        if not -180 <= self.lon <= 180:
            raise ScheduleError("lon", f"must be between -180 and 180, got {self.lon}")

    def next_after(self, after: datetime) -> datetime | None:
        if after.tzinfo is None or after.utcoffset() is None:
            raise ScheduleError("after", f"naive datetime {after.isoformat()} (give a UTC offset)")
        try:
            day = after.astimezone(solar_day_zone(self.lon)).date() - timedelta(days=1)
        except OverflowError:
            return None
        for _ in range(SEARCH_DAYS):
            found = event_on(self.event, self.lat, self.lon, day)
            if found is not None and found > after:
                return found
            try:
                day += timedelta(days=1)
            except OverflowError:
                return None
        return None

    def describe(self) -> str:
        return f"solar {self.event} at {self.lat:g},{self.lon:g}"


def missing_days_note(schedule: object, before: datetime | None, fire: datetime) -> str | None:
    """``beat next``'s note when a solar entry's ``fire`` comes days after ``before`` (the
    previous fire, or the instant asked about): the days between have no such event."""
    if not isinstance(schedule, Solar) or before is None or fire - before <= _DAY_GAP:
        return None
    zone = solar_day_zone(schedule.lon)
    first = before.astimezone(zone).date() + timedelta(days=1)
    last = fire.astimezone(zone).date() - timedelta(days=1)
    if last < first:
        return None
    return (
        f"no {schedule.event} at {schedule.lat:g},{schedule.lon:g} from {first} to {last} "
        "(the sun does not reach it: polar day or night)"
    )


__all__ = ["EVENTS", "Solar", "event_on", "missing_days_note", "solar_day_zone"]
