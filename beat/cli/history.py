"""``beat history ENTRY [-n 20] [--json]``: the entry's recent fires, newest first, from the fire
log of the run state (what beat did with each fire) and the broker's task states (what the
worker did with it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from beat.cli.group import cli
from beat.cli.loading import find_entry, load_all_entries, open_broker_or_fail
from beat.cli.options import broker_option, config_option

if TYPE_CHECKING:
    from beat.state_log import FireRecord
    from taskqueue.broker import TaskStates


@cli.command("history")
@config_option
@broker_option
@click.argument("name")
@click.option("-n", "limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history_cmd(
    ctx: click.Context,
    config_path: Path,
    broker_url: str | None,
    name: str,
    limit: int,
    as_json: bool,
) -> None:
    """ENTRY's recent fires, newest first: sent or skipped (and why), task state, runtime."""
    config = load_all_entries(config_path, readonly=True)
    find_entry(config, name)
    records = read_fire_log(ctx.obj["state"], name, limit)
    broker = open_broker_or_fail(broker_url or config.broker_url) if records else None
    try:
        rows = [history_row(r, broker) for r in records]
    finally:
        if broker is not None:
            broker.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(render_history(rows))


def read_fire_log(state: str, name: str, limit: int) -> list[FireRecord]:
    """The newest ``limit`` lines of ``name``'s fire log; none if the state does not exist (it
    is not created by looking)."""
    from beat.cli.errors import RuntimeProblem
    from beat.errors import StateError
    from beat.state import StateStore
    from beat.state_read import sqlite_state_file

    path = sqlite_state_file(state)
    if path is not None and not path.exists():
        return []
    try:
        store = StateStore(state)
        try:
            return store.fire_log(name, limit)
        finally:
            store.close()
    except StateError as e:
        raise RuntimeProblem(str(e)) from e


def history_row(record: FireRecord, broker: TaskStates | None) -> dict[str, Any]:
    """One fire as ``beat history`` shows it."""
    from beat.cli.loading import broker_errors
    from beat.state_log import ENQUEUED

    enqueued = record.outcome in ENQUEUED
    status = None
    if enqueued and broker is not None:
        with broker_errors():
            status = broker.get_status(record.fire_id)
    started = status.started_at if status is not None else None
    finished = status.finished_at if status is not None else None
    return {
        "fire_id": record.fire_id,
        "scheduled_for": record.scheduled_for.isoformat(),
        "outcome": record.outcome,
        "sent_at": record.at.isoformat() if enqueued and record.at is not None else None,
        "skipped": record.reason if record.outcome == "skipped" else None,
        # A fire whose task state has expired (or never existed) is shown as unknown.
        "state": str(status.state) if status is not None else None,
        "started_at": started.isoformat() if started is not None else None,
        "finished_at": finished.isoformat() if finished is not None else None,
        "runtime_s": (
            round((finished - started).total_seconds(), 3)
            if started is not None and finished is not None
            else None
        ),
        "error": status.error if status is not None else (record.reason or None),
    }


def render_history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no fires recorded"
    header = ("SCHEDULED FOR", "SENT AT", "STATE", "RUNTIME", "FIRE ID / NOTE")
    table = [header]
    for r in rows:
        sent = r["sent_at"] or r["outcome"]
        state = r["state"] or ("unknown" if r["sent_at"] else "-")
        runtime = "-" if r["runtime_s"] is None else f"{r['runtime_s']}s"
        note = r["skipped"] or r["error"]
        tail = r["fire_id"] if not note else f"{r['fire_id']} ({note})"
        table.append((r["scheduled_for"], sent, state, runtime, tail))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )
