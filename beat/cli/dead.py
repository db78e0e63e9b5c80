"""``beat dead`` (list, requeue, purge dead letters) and ``beat purge`` (drop ready messages).

Every destructive command says what it did, with counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from beat.cli.errors import fail
from beat.cli.group import cli
from beat.cli.loading import broker_errors, open_broker_or_fail, resolve_broker_url
from beat.cli.options import broker_option, config_option, duration

if TYPE_CHECKING:
    from taskqueue.broker import Broker


class _DeadGroup(click.Group):
    """``beat dead [QUEUE]`` lists; ``beat dead requeue|purge ...`` act: a first argument
    that is not a subcommand is the queue to list."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@contextmanager
def _broker(config_path: Path, broker_url: str | None) -> Iterator[Broker]:
    broker = open_broker_or_fail(resolve_broker_url(config_path, broker_url))
    try:
        with broker_errors():
            yield broker
    finally:
        broker.close()


@cli.group("dead", cls=_DeadGroup)
def dead_group() -> None:
    """Dead letters: list them (beat dead [QUEUE]), requeue or purge them."""


@dead_group.command("list")
@click.argument("queue", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="At most this many per queue.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@config_option
@broker_option
def dead_list(
    queue: str | None, limit: int, as_json: bool, config_path: Path, broker_url: str | None
) -> None:
    """The dead letters of QUEUE (default: every queue): reason, task, time, attempts."""
    from beat.cli.render import render_table
    from beat.ops.dead import dead_data, list_dead

    with _broker(config_path, broker_url) as broker:
        letters = list_dead(broker, queue, limit)
    if as_json:
        click.echo(json.dumps([dead_data(d) for d in letters], indent=2))
        return
    if not letters:
        click.echo(f"no dead letters{f' in {queue}' if queue else ''}")
        return
    rows = [
        (d.message_id, d.queue, d.task or "?", "?" if d.attempts is None else str(d.attempts),
         f"{d.at:%Y-%m-%d %H:%M:%S}", d.reason + ("" if d.problem is None else f" ({d.problem})"))
        for d in letters
    ]  # fmt: skip
    click.echo(render_table(("ID", "QUEUE", "TASK", "ATTEMPTS", "DEAD AT (UTC)", "REASON"), rows))


@dead_group.command("requeue")
@click.argument("ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every dead letter (of --queue).")
@click.option("--queue", default=None, help="Only this queue's dead letters.")
@config_option
@broker_option
def dead_requeue(
    ids: tuple[str, ...], every: bool, queue: str | None, config_path: Path, broker_url: str | None
) -> None:
    """Put dead letters back as new deliveries (same task id, attempts reset)."""
    from beat.ops.dead import requeue

    if bool(ids) == every:
        fail("beat dead requeue: give the ids to requeue, or --all (not both)")
    with _broker(config_path, broker_url) as broker:
        report = requeue(broker, None if every else list(ids), queue)
    per_queue: dict[str, int] = {}
    for name, _ in report.requeued:
        per_queue[name] = per_queue.get(name, 0) + 1
    where = ", ".join(f"{n} from {q}" for q, n in sorted(per_queue.items()))
    click.echo(f"requeued {len(report.requeued)} dead letter(s){f': {where}' if where else ''}")
    for message_id, why in report.refused.items():
        click.echo(f"not requeued {message_id}: {why}", err=True)
    for message_id in report.missing:
        click.echo(f"not requeued {message_id}: no such dead letter", err=True)
    if report.refused or report.missing:
        raise click.exceptions.Exit(1)


@dead_group.command("purge")
@click.argument("queue", required=False)
@click.option("--older-than", default=None, help="Only dead letters older than this (e.g. 7d).")
@config_option
@broker_option
def dead_purge(
    queue: str | None, older_than: str | None, config_path: Path, broker_url: str | None
) -> None:
    """Delete the dead letters of QUEUE (default: every queue)."""
    from beat.ops.dead import purge_dead

    age = None if older_than is None else duration(older_than, "--older-than")
    with _broker(config_path, broker_url) as broker:
        counts = purge_dead(broker, queue, age)
    total = sum(counts.values())
    detail = ", ".join(f"{n} from {q}" for q, n in sorted(counts.items()) if n)
    click.echo(f"deleted {total} dead letter(s){f': {detail}' if detail else ''}")


@cli.command("purge")
@click.argument("queue")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@config_option
@broker_option
def purge_cmd(queue: str, yes: bool, config_path: Path, broker_url: str | None) -> None:
    """Drop QUEUE's ready messages (delayed and running ones stay), after a confirmation."""
    from beat.ops.dead import purge_queue

    with _broker(config_path, broker_url) as broker:
        ready = _ready(broker, queue)
        if not yes:
            click.confirm(f"drop the {ready} ready message(s) of queue {queue}?", abort=True)
        dropped = purge_queue(broker, queue)
    click.echo(f"dropped {dropped} ready message(s) from {queue}")


def _ready(broker: Any, queue: str) -> int:
    return next((s.ready for s in broker.queue_stats() if s.name == queue), 0)
