"""``beat queues`` and ``beat status``: what the broker holds, read-only.

The embedded SQLite queue is read straight from its file (:mod:`taskqueue.sqlite_read`): no
SQLAlchemy import, and a missing file is read as empty, not created."""

from __future__ import annotations

from pathlib import Path

import click

from beat.cli.errors import EXIT_UNKNOWN_TASK
from beat.cli.group import cli
from beat.cli.reading import read_options, reading


@cli.command("queues")
@read_options
def queues_cmd(as_json: bool, config_path: Path, broker_url: str | None) -> None:
    """Every queue: ready, delayed, in flight, dead-lettered, live consumers."""
    from beat.cli.render import render_queues

    with reading(config_path, broker_url) as reader:
        stats = reader.queue_stats()
    click.echo(render_queues(stats, as_json=as_json))


@cli.command("status")
@click.argument("task_id")
@read_options
def status_cmd(task_id: str, as_json: bool, config_path: Path, broker_url: str | None) -> None:
    """A task's state, attempts, result or error.

    Exit status 3 (and state "unknown") for an id the broker has never seen, or whose record
    expired (a day after it finished).
    """
    from beat.cli.render import render_status

    with reading(config_path, broker_url) as reader:
        status = reader.task_status(task_id)
    click.echo(render_status(task_id, status, as_json=as_json))
    if status is None:
        raise click.exceptions.Exit(EXIT_UNKNOWN_TASK)
