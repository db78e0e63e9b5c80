"""``beat workers``: every worker's heartbeat record, live ones and ones missed recently."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from beat.cli.group import cli
from beat.cli.reading import read_options, reading


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "?"
    return f"{max(0.0, (now - then).total_seconds()):.0f}s ago"


@cli.command("workers")
@read_options
def workers_cmd(as_json: bool, config_path: Path, broker_url: str | None) -> None:
    """Workers: name, host, pid, pool, queues, tasks running now; missed ones marked."""
    from beat.cli.render import render_table
    from beat.ops.workers import worker_data

    with reading(config_path, broker_url) as reader:
        seen = reader.workers()
    if as_json:
        click.echo(json.dumps([worker_data(w) for w in seen], indent=2))
        return
    if not seen:
        click.echo("no workers")
        return
    now = datetime.now(UTC)
    header = ("WORKER", "STATE", "HOST", "PID", "POOL", "QUEUES", "LAST SEEN", "RUNNING")
    rows, details = [], []
    for w in seen:
        state = "live" if w.live else "MISSED"
        r = w.record
        if r is None:
            rows.append((w.name, state, "?", "?", "?", "?", _ago(w.last_seen, now), "?"))
            details.append(f"{w.name}: {w.problem}")
            continue
        pool = f"{r.pool} x{r.concurrency}"
        running = str(len(r.tasks))
        rows.append((w.name, state, r.host, str(r.pid), pool, ",".join(r.queues),
                     _ago(w.last_seen, now), running))  # fmt: skip
        details += [f"{w.name}: {t.task}[{t.id}] since {t.started_at:%H:%M:%S}" for t in r.tasks]
    click.echo(render_table(header, rows))
    if details:
        click.echo("\n" + "\n".join(details))
