"""``beat queues`` and ``beat status``: what the broker holds, read-only.

The embedded SQLite queue is read straight from its file (:mod:`taskqueue.sqlite_read`): no
SQLAlchemy import, and a missing file is read as empty, not created."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from beat.cli.errors import EXIT_UNKNOWN_TASK
from beat.cli.group import cli
from beat.cli.loading import broker_errors, resolve_broker_url
from beat.cli.options import broker_option, config_option
from beat.views.broker import BrokerReader


@cli.command("queues")
@click.option("--json", "as_json", is_flag=True)
@config_option
@broker_option
def queues_cmd(as_json: bool, config_path: Path, broker_url: str | None) -> None:
    """Every queue: ready, delayed, in flight, dead-lettered, live consumers."""
    from beat.cli.render import render_queues

    url = resolve_broker_url(config_path, broker_url, readonly=True)
    with reading(url) as reader:
        stats = reader.queue_stats()
    click.echo(render_queues(stats, as_json=as_json))


@cli.command("status")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True)
@config_option
@broker_option
def status_cmd(task_id: str, as_json: bool, config_path: Path, broker_url: str | None) -> None:
    """A task's state, attempts, result or error.

    Exit status 3 (and state "unknown") for an id the broker has never seen, or whose record
    expired (a day after it finished).
    """
    from beat.cli.render import render_status

    url = resolve_broker_url(config_path, broker_url, readonly=True)
    with reading(url) as reader:
        status = reader.task_status(task_id)
    click.echo(render_status(task_id, status, as_json=as_json))
    if status is None:
        raise click.exceptions.Exit(EXIT_UNKNOWN_TASK)


@contextmanager
def reading(url: str) -> Iterator[BrokerReader]:
    """The broker at ``url`` opened for reading (pinged, unless it is the SQLite file), its
    errors mapped to exit codes by :func:`broker_errors`, closed afterwards."""
    reader = BrokerReader(url)
    try:
        with broker_errors():
            reader.open()
            yield reader
    finally:
        reader.close()
