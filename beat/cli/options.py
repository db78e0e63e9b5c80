"""What the ``beat`` commands share on their way in: the common options and the parsers of
option values (instants, zones, durations, JSON). A bad value fails the command with exit 2
and an ``error:`` line naming the option.

Imports only click and the standard library at load; the rest is imported by the parser that
needs it (``beat next`` starts in well under 150 ms).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from beat.cli.errors import fail
from taskqueue.config_keys import CONFIG_ENV, DEFAULT_CONFIG_FILE

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

F = TypeVar("F", bound=Callable[..., Any])


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=lambda: os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE),
        show_default="$BEAT_CONFIG or ./schedules.yaml",
        help="The schedules.yaml file.",
    )(f)


def broker_option(f: F) -> F:
    return click.option(
        "--broker", "broker_url", default=None, help="Broker URL (overrides the config's broker)."
    )(f)


def parse_json(value: str | None, option: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as e:
        fail(f"{option}: not valid JSON: {e}")
    if not isinstance(parsed, kind):
        fail(f"{option}: expected a JSON {'array' if kind is list else 'object'}")
    return parsed


# A date with an offset but no time (2099-01-01Z, 2099-01-01-05:00): midnight at that offset.
# datetime.fromisoformat refuses the first and reads the second as 05:00 without an offset.
# A pattern, compiled by re on first use (its cache): only --after/--start with a date use it.
_DATE_WITH_OFFSET = r"(\d{4}-\d{2}-\d{2})([zZ]|[+-]\d{2}(?::?\d{2})?)"


def parse_instant(value: str, option: str, zone: ZoneInfo | None = None) -> datetime:
    """An ISO-8601 instant with an offset; naive date-times are refused (SPEC 5).

    A date alone is midnight: at its offset when it has one, else local midnight in ``zone``
    (the schedule's zone; the fixed-time rule if midnight is skipped), else refused. Every
    form the refusal suggests is accepted.
    """
    text = value.strip()
    dated = re.fullmatch(_DATE_WITH_OFFSET, text)
    if dated is not None:
        text = f"{dated[1]}T00:00{dated[2]}"
    elif zone is not None:
        day = _date_only(text)
        if day is not None:
            from beat.time.cron_dst import resolve_fixed

            return resolve_fixed(datetime.combine(day, time()), zone)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {value!r} is not an ISO-8601 date-time (e.g. 2026-03-08T02:30:00Z)")
    if parsed.tzinfo is None:
        utc = parsed.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
        west = parsed.replace(tzinfo=timezone(timedelta(hours=-5))).isoformat()
        fail(f"{option}: naive datetime {value!r}: add a UTC offset (e.g. {utc} or {west})")
    return parsed


def _date_only(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_zone(name: str, option: str) -> ZoneInfo:
    from beat.time import zones

    try:
        return zones.get(name)
    except (zones.ZoneInfoNotFoundError, ValueError):
        from taskqueue.config_text import did_you_mean

        fail(f"{option}: unknown time zone {name!r}{did_you_mean(name, _zones())}")


def _zones() -> Sequence[str]:
    from beat.time import zones

    return sorted(zones.available())


def duration(value: str, option: str, *, zero: bool = False) -> timedelta:
    from beat.time.durations import parse_duration

    try:
        return parse_duration(value, option, allow_zero=zero)
    except ValueError as e:
        fail(str(e))
