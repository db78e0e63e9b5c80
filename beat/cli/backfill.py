"""``beat backfill ENTRY --from ISO --to ISO [--dry-run] [--json] [--limit N]``: enqueue the
fires the entry would have had in a range, each with its ordinary fire id (so a second run
enqueues nothing new), honouring its overlap policy (:mod:`beat.backfill`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from beat.cli.group import cli
from beat.cli.loading import (
    broker_errors,
    find_entry,
    load_all_entries,
    open_broker_or_fail,
    read_states,
)
from beat.cli.options import broker_option, config_option, parse_instant

if TYPE_CHECKING:
    from beat.backfill import Backfill
    from beat.entries import Entry
    from beat.planner import Fire
    from taskqueue.broker import Producer


@cli.command("backfill")
@config_option
@broker_option
@click.argument("name")
@click.option("--from", "start_text", required=True, help="First instant (ISO-8601).")
@click.option("--to", "end_text", required=True, help="Last instant (ISO-8601), inclusive.")
@click.option("--dry-run", is_flag=True, help="Show the fires; enqueue nothing.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Allow more than 10,000 fires.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def backfill_cmd(
    ctx: click.Context,
    config_path: Path,
    broker_url: str | None,
    name: str,
    start_text: str,
    end_text: str,
    dry_run: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    """Enqueue ENTRY's fires from --from to --to (those already enqueued are refused)."""
    from beat.backfill import DEFAULT_LIMIT, TooManyFires, fires_in_range, gate
    from beat.cli.errors import fail
    from beat.entries import Overlap
    from beat.planner import first_state

    config = load_all_entries(config_path, readonly=True)
    entry = find_entry(config, name)
    zone = entry.schedule.zone
    start = parse_instant(start_text, "--from", zone)
    end = parse_instant(end_text, "--to", zone)
    if end < start:
        fail(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    now = datetime.now(UTC)
    state = first_state(entry, now, read_states(ctx.obj["state"]).get(name))
    bound = DEFAULT_LIMIT if limit is None else limit
    try:
        fires = fires_in_range(entry, state, start, end, bound)
    except TooManyFires as e:
        fail(f"{name}: {e}; give --limit N to allow more")
    if dry_run:
        _print_dry_run(fires, as_json)
        return
    broker = open_broker_or_fail(broker_url or config.broker_url)
    try:
        with broker_errors():
            last = (
                _last_sent(ctx.obj["state"], name) if entry.overlap is not Overlap.ALLOW else None
            )
            send, skipped = gate(entry, fires, last, broker.get_statuses)
            result = _enqueue_and_log(ctx.obj["state"], broker, entry, send, now)
    finally:
        broker.close()
    data: dict[str, object] = {"enqueued": result.enqueued, "duplicates": result.duplicates}
    if entry.overlap is not Overlap.ALLOW:
        data["skipped"] = len(skipped)
    if as_json:
        click.echo(json.dumps(data))
        return
    line = f"{result.enqueued} enqueued, {result.duplicates} already enqueued"
    if skipped:
        line += f", {len(skipped)} skipped ({skipped[0][1]})"
    click.echo(line)


def _print_dry_run(fires: list[Fire], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"fires": [f.id for f in fires], "count": len(fires)}))
        return
    for fire in fires:
        click.echo(f"{fire.scheduled_for.isoformat()}  {fire.id}")
    click.echo(f"{len(fires)} fire(s) would be enqueued (dry run)")


def _last_sent(state_url: str, name: str) -> str | None:
    """The id of the entry's newest fire in the broker, per the fire log."""
    from beat.cli.history import read_fire_log
    from beat.state_log import ENQUEUED

    for record in read_fire_log(state_url, name, 100):
        if record.outcome in ENQUEUED:
            return record.fire_id
    return None


def _enqueue_and_log(
    state_url: str, broker: Producer, entry: Entry, fires: list[Fire], now: datetime
) -> Backfill:
    """:func:`beat.backfill.enqueue` with the run state open for its fire log lines."""
    from beat.backfill import enqueue
    from beat.cli.errors import RuntimeProblem
    from beat.errors import StateError
    from beat.state import StateStore

    try:
        store = StateStore(state_url)
        try:
            return enqueue(broker, store, entry, fires, now)
        finally:
            store.close()
    except StateError as e:
        raise RuntimeProblem(f"{entry.name}: the fires were sent but not logged: {e}") from e
