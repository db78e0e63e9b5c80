"""``beat list`` and ``beat config``: what is configured, when it fires next and who leads.

Read-only: an unreachable broker is reported on the leader line, never fails the command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from beat.cli.group import cli
from beat.cli.loading import load, read_pauses, read_states
from beat.cli.options import config_option
from beat.views.broker import read_leader


@cli.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, config_path: Path, as_json: bool) -> None:
    """Every entry: schedule, zone, queue, last fire, next fire, enabled."""
    from beat.cli.cached import read_readable
    from beat.cli.render import render_list

    config = read_readable(config_path)
    states = read_states(ctx.obj["state"])
    pauses = read_pauses(ctx.obj["state"])
    leader = None if as_json else read_leader(config.broker_url)
    now = datetime.now(UTC)
    click.echo(render_list(config, states, now, as_json=as_json, leader=leader, pauses=pauses))


@cli.command("config")
@config_option
@click.option("--json", "as_json", is_flag=True)
def config_cmd(config_path: Path, as_json: bool) -> None:
    """The effective configuration, secrets redacted."""
    from beat.cli.render import render_config

    config = load(config_path)
    click.echo(render_config(config, as_json=as_json, leader=read_leader(config.broker_url)))
