"""``beat send`` and ``beat trigger``: enqueue one task now (or later), print its id.

``send`` names any task; ``trigger`` runs an entry's task outside its schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from beat.cli.errors import fail
from beat.cli.group import cli
from beat.cli.loading import find_entry, load_all_entries, open_broker_or_fail, resolve_broker_url
from beat.cli.options import broker_option, config_option, duration, parse_instant, parse_json

if TYPE_CHECKING:
    from beat.state import StateStore
    from taskqueue.broker import Producer


@cli.command("send")
@click.argument("task_name")
@click.option("--args", "args_json", default=None, help="JSON array of positional arguments.")
@click.option("--kwargs", "kwargs_json", default=None, help="JSON object of keyword arguments.")
@click.option("--queue", default="default", show_default=True)
@click.option("--priority", type=click.IntRange(0, 9), default=0, show_default=True)
@click.option("--countdown", default=None, help="Run no earlier than this long from now.")
@click.option("--eta", default=None, help="Run no earlier than this instant (ISO-8601).")
@click.option("--expires", default=None, help="Do not run after this long from now.")
@click.option("--soft-time-limit", default=None)
@click.option("--time-limit", default=None)
@click.option("--max-retries", type=click.IntRange(min=0), default=None)
@config_option
@broker_option
def send_cmd(
    task_name: str,
    args_json: str | None,
    kwargs_json: str | None,
    queue: str,
    priority: int,
    countdown: str | None,
    eta: str | None,
    expires: str | None,
    soft_time_limit: str | None,
    time_limit: str | None,
    max_retries: int | None,
    config_path: Path,
    broker_url: str | None,
) -> None:
    """Enqueue one task now (or later) and print its id."""
    from taskqueue.message import Headers, Message, RetryPolicy, new_task_id

    if countdown and eta:
        fail("send: give --countdown or --eta, not both")
    now = datetime.now(UTC)
    when = now + duration(countdown, "--countdown") if countdown else None
    if eta:
        when = parse_instant(eta, "--eta").astimezone(UTC)
    try:
        message = Message(
            id=new_task_id(),
            task=task_name,
            queue=queue,
            args=tuple(parse_json(args_json, "--args", list)),
            kwargs=parse_json(kwargs_json, "--kwargs", dict),
            priority=priority,
            eta=when,
            expires=now + duration(expires, "--expires") if expires else None,
            soft_time_limit=duration(soft_time_limit, "--soft-time-limit")
            if soft_time_limit
            else None,
            time_limit=duration(time_limit, "--time-limit") if time_limit else None,
            retry=RetryPolicy(max_retries=max_retries or 0),
            headers=Headers(enqueued_at=now),
        )
        message.encode()
    except ValueError as e:
        fail(f"send: {e}")
    broker: Producer = open_broker_or_fail(resolve_broker_url(config_path, broker_url))
    try:
        broker.enqueue_once(message)
    finally:
        broker.close()
    click.echo(message.id)


@cli.command("trigger")
@click.argument("entry_name")
@config_option
@broker_option
@click.pass_context
def trigger_cmd(
    ctx: click.Context, entry_name: str, config_path: Path, broker_url: str | None
) -> None:
    """Enqueue ENTRY's task now, outside its schedule, and print the task id; the run is in
    the entry's history (`beat history`) as a manual one."""
    from beat.ops.trigger import trigger

    config = load_all_entries(config_path)
    entry = find_entry(config, entry_name)
    broker: Producer = open_broker_or_fail(broker_url or config.broker_url)
    opened: list[StateStore] = []

    def open_state() -> StateStore:
        from beat.state import StateStore

        opened.append(StateStore(ctx.obj["state"]))
        return opened[-1]

    try:
        done = trigger(broker, entry, open_state, _who(), datetime.now(UTC))
    except ValueError as e:  # a message the broker would refuse is a usage error, not a crash
        fail(f"trigger: {e}")
    finally:
        broker.close()
        for store in opened:
            store.close()
    if done.unrecorded is not None:
        click.echo(f"warning: {done.unrecorded}", err=True)
    click.echo(done.task_id)


def _who() -> str:
    """Who triggers, as the entry's history shows it: user@host."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
