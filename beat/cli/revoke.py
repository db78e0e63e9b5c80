"""``beat revoke ID [--terminate]``: a revoked task never runs (or is stopped, with
``--terminate``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from beat.cli.group import cli
from beat.cli.loading import broker_errors, open_broker_or_fail, resolve_broker_url
from beat.cli.options import broker_option, config_option


@cli.command("revoke")
@click.argument("task_id")
@click.option("--terminate", is_flag=True, help="Also stop it if it is running now.")
@click.option("--json", "as_json", is_flag=True)
@config_option
@broker_option
def revoke_cmd(
    task_id: str, terminate: bool, as_json: bool, config_path: Path, broker_url: str | None
) -> None:
    """Revoke a task: a queued or delayed one is removed and recorded REVOKED; a running one
    is stopped with --terminate. The id never runs later, even from a redelivered copy."""
    from beat.ops.revoke import describe, revocation_data, revoke

    url = resolve_broker_url(config_path, broker_url)
    broker = open_broker_or_fail(url)
    try:
        with broker_errors():
            revocation = revoke(broker, task_id, terminate=terminate)
    finally:
        broker.close()
    click.echo(json.dumps(revocation_data(revocation)) if as_json else describe(revocation))
