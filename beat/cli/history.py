"""``beat history ENTRY [-n 20] [--json]``: the entry's recent fires, newest first, from the fire
log of the run state (what beat did with each fire) and the broker's task states (what the
worker did with it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from beat.cli.group import cli
from beat.cli.loading import broker_errors, find_entry, load_all_entries
from beat.cli.options import broker_option, config_option
from beat.views.broker import BrokerReader
from beat.views.history import history_rows

if TYPE_CHECKING:
    from beat.state_log import FireRecord


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
    rows: list[dict[str, Any]] = []
    if records:
        reader = BrokerReader(broker_url or config.broker_url)
        try:
            with broker_errors():
                reader.open()
                rows = history_rows(records, reader.task_statuses)
        finally:
            reader.close()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(render_history(rows))


def read_fire_log(state: str, name: str, limit: int) -> list[FireRecord]:
    """:func:`beat.views.history.read_fire_log`; a store that cannot be read exits 1."""
    from beat.cli.errors import RuntimeProblem
    from beat.errors import StateError
    from beat.views.history import read_fire_log as read

    try:
        return read(state, name, limit)
    except StateError as e:
        raise RuntimeProblem(str(e)) from e


def render_history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no fires recorded"
    header = ("SCHEDULED FOR", "SENT AT", "STATE", "RUNTIME", "FIRE ID / NOTE")
    table = [header]
    for r in rows:
        sent = r["sent_at"] or r["outcome"]
        state = r["state"] or ("unknown" if r["sent_at"] else "-")
        runtime = "-" if r["runtime_s"] is None else f"{r['runtime_s']}s"
        note = r["skipped"] or r["error"] or (f"by hand: {r['by']}" if r["by"] else None)
        tail = r["fire_id"] if not note else f"{r['fire_id']} ({note})"
        table.append((r["scheduled_for"], sent, state, runtime, tail))
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )
