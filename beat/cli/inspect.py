"""``beat list`` and ``beat config``: what is configured, when it fires next and who leads.

Read-only: an unreachable broker is reported on the leader line, never fails the command.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from beat.cli.group import cli
from beat.cli.loading import is_sqlite_queue, load, load_all_entries, read_states
from beat.cli.options import config_option

if TYPE_CHECKING:
    from taskqueue.broker import LeaderLease


@cli.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, config_path: Path, as_json: bool) -> None:
    """Every entry: schedule, zone, queue, last fire, next fire, enabled."""
    from beat.cli.render import render_list

    config = load_all_entries(config_path, readonly=True)
    states = read_states(ctx.obj["state"])
    leader = None if as_json else _leader(config.broker_url)
    click.echo(render_list(config, states, datetime.now(UTC), as_json=as_json, leader=leader))


@cli.command("config")
@config_option
@click.option("--json", "as_json", is_flag=True)
def config_cmd(config_path: Path, as_json: bool) -> None:
    """The effective configuration, secrets redacted."""
    from beat.cli.render import render_config

    config = load(config_path)
    click.echo(render_config(config, as_json=as_json, leader=_leader(config.broker_url)))


def _leader(broker_url: str) -> tuple[Any, str | None]:
    """Who holds the beat leader lease in ``broker_url``: (holder or None, problem or None).

    Never fails the command: an unreachable broker is reported on the line instead. A SQLite
    queue file that does not exist has no leader (and is not created by looking).
    """
    from beat.leader import DEFAULT_LEASE_NAME
    from taskqueue.errors import TaskqueueError
    from taskqueue.urls import is_redis_url, redact_url

    if is_sqlite_queue(broker_url):
        from taskqueue.sqlite_read import lease_holder

        try:  # read-only: a missing file has no leader, and is not created by looking
            return lease_holder(broker_url, DEFAULT_LEASE_NAME), None
        except TaskqueueError as e:
            return None, f"broker {redact_url(broker_url)}: {e}"
    broker: LeaderLease | None = None
    try:
        if is_redis_url(broker_url):
            from taskqueue.redis import RedisBroker

            broker = RedisBroker(broker_url, socket_timeout=timedelta(seconds=1))
        else:
            from taskqueue.urls import open_broker

            broker = open_broker(broker_url)
        return broker.lease_holder(DEFAULT_LEASE_NAME), None
    except TaskqueueError as e:
        return None, f"broker {redact_url(broker_url)}: {e}"
    finally:
        if broker is not None:
            broker.close()
