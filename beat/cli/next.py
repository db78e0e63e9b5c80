"""``beat next``: the next fire times of an entry, or of an ad-hoc ``--cron``/``--every``.

For an entry they come from the same run state ``beat list`` and the daemon read. Read-only
and fast: it never loads SQLAlchemy or redis-py unless the entry needs the run state.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from beat.cli.errors import fail
from beat.cli.group import cli
from beat.cli.loading import read_entry
from beat.cli.options import config_option, duration, parse_instant, parse_zone

if TYPE_CHECKING:
    from beat.entries import Entry, Schedule


@cli.command("next")
@click.argument("entry_name", required=False)
@click.option("--cron", "cron_expr", help="An ad-hoc cron expression.")
@click.option("--every", "every", help="An ad-hoc interval (e.g. 30s, 1h30m).")
@click.option("--start", "start", help="Phase anchor for --every (ISO-8601 with offset).")
@click.option("--name", "hash_name", default="", help="Entry name used by H in --cron.")
@click.option("--tz", "tz", default=None, help="Zone for --cron/--every (default UTC).")
@click.option("--after", "after", default=None, help="List fires strictly after this instant.")
@click.option("-n", "count", type=click.IntRange(min=1, max=100_000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of ISO-8601 instants.")
@config_option
@click.pass_context
def next_cmd(
    ctx: click.Context,
    entry_name: str | None,
    cron_expr: str | None,
    every: str | None,
    start: str | None,
    hash_name: str,
    tz: str | None,
    after: str | None,
    count: int,
    as_json: bool,
    config_path: Path,
) -> None:
    """The next fire times of ENTRY, or of an ad-hoc --cron/--every schedule."""
    from itertools import islice

    from beat.errors import ScheduleError

    chosen = [x for x in (entry_name, cron_expr, every) if x is not None]
    if len(chosen) != 1:
        fail("next: give exactly one of ENTRY, --cron EXPR or --every DURATION")
    if start is not None and every is None:
        fail("--start: only applies to --every")
    now = datetime.now(UTC)
    schedule: Schedule
    if entry_name is not None:
        if tz is not None:
            fail("--tz: only applies to --cron/--every (an entry has its own zone)")
        from beat.cli.cached import readonly_entry

        entry = readonly_entry(config_path, entry_name)
        # A date alone is local midnight in the entry's zone.
        since = parse_instant(after, "--after", entry.schedule.zone) if after else None
        upcoming, why_none = _entry_fires(ctx.obj["state"], entry, now, after=since)
        fires = list(islice(upcoming, count))
        from beat.cli.render import render_next

        click.echo(
            render_next(
                entry.schedule.anchored(now),
                fires,
                as_json=as_json,
                since=since or now,
                jitter=(entry.name, entry.jitter),
            )
        )
        if why_none:  # after the JSON on stderr, so that stdout stays one JSON array
            click.echo(why_none, err=as_json)
        return
    from beat.time import schedules

    zone = parse_zone(tz or "UTC", "--tz")
    try:
        if cron_expr is not None:
            schedule = schedules.Cron(cron_expr, zone, name=hash_name)
        else:
            assert every is not None
            anchor = parse_instant(start, "--start", zone) if start else None
            schedule = schedules.Interval(duration(every, "--every"), anchor, zone).anchored(now)
    except ScheduleError as e:
        fail(f"{'--cron' if cron_expr is not None else '--every'}: {e}")
    # A date alone is local midnight in the schedule's zone.
    when = parse_instant(after, "--after", schedule.zone) if after else now
    fires = list(islice(schedule.iter_after(when), count))
    from beat.cli.render import render_next

    click.echo(render_next(schedule, fires, as_json=as_json, since=when))


def _entry_fires(
    state_url: str, entry: Entry, now: datetime, *, after: datetime | None
) -> tuple[Iterator[datetime], str | None]:
    """``entry``'s fires from the same run state ``beat list`` and the daemon read: without
    ``after`` its first item is ``beat list``'s next fire, even when that fire is overdue.
    None while it is paused or disabled (the daemon's rule, :func:`beat.pending.sends`), with
    the line that says why."""
    from beat.pending import planned_state, sends, upcoming
    from beat.time.bounds import unbounded
    from beat.time.schedules import Interval

    stored, pause = read_entry(state_url, entry.name)
    if not sends(entry, pause):
        if pause is not None and pause.paused:
            note = f": {pause.note}" if pause.note else ""
            why = f"paused since {pause.since.isoformat()}{note}: no fires until `beat resume`"
        else:
            why = "disabled: no fires"
        return iter(()), f"{entry.name} is {why}"
    base = unbounded(entry.schedule)
    if stored is None and isinstance(base, Interval) and base.start is None:
        click.echo(
            f"note: no run state for {entry.name!r} in {state_url}: its phase is set when beat "
            "first sees it; these fires are for a beat seeing it now",
            err=True,
        )
    return upcoming(entry, planned_state(entry, stored, pause, now), after), None
