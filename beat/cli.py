"""The ``beat`` command line. The only module that reads argv/env and configures logging.

Exit codes (SPEC 3): 0 success; 2 bad usage or invalid configuration/input, one ``error:`` line
per problem on stderr; 1 runtime failure (broker or state store unreachable); 3 ``beat status``
of an id the broker has never seen (so a script can tell "unknown" from a result).

Imports are deferred to the command that needs them: ``beat next`` must start in well under
150 ms, so it never loads SQLAlchemy or redis-py.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from beat.cli_support import (
    RuntimeProblem,
    config_option,
    fail,
    parse_json,
)
from beat.entries_cmd import entries_group

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from beat.config import Config
    from beat.entries import Entry, Schedule
    from taskqueue.broker import Broker

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_STATE = "schedule.db"
EXIT_UNKNOWN_TASK = 3


# --- shared option helpers ------------------------------------------------------------------


def broker_option(f: F) -> F:
    return click.option(
        "--broker", "broker_url", default=None, help="Broker URL (overrides the config's broker)."
    )(f)


def load(config_path: Path) -> Config:
    from beat.config import load_config

    return load_config(config_path)


def load_readable(config_path: Path) -> Config:
    """For read-only commands (list, next, queues, status): the configuration with the entries
    that validate, each problem of the others printed as a ``warning:`` line on stderr (the
    daemon, too, keeps running what is valid). Problems outside an entry still exit 2."""
    from beat.config_partial import load_valid_entries

    config, problems = load_valid_entries(config_path)
    for problem in problems:
        click.echo(f"warning: {problem} (entry left out)", err=True)
    return config


def load_all_entries(config_path: Path, *, readonly: bool = False) -> Config:
    """The config with the SQL source's entries merged in (``source:`` a database URL), for
    commands that look entries up: list, next, trigger, config. ``readonly``: tolerate invalid
    entries (see :func:`load_readable`)."""
    from dataclasses import replace

    config = load_readable(config_path) if readonly else load(config_path)
    if config.source == "yaml":
        return config
    from beat.sources.sql import merged_entries

    return replace(config, entries=merged_entries(config))


def resolve_broker_url(config_path: Path, broker_url: str | None, *, readonly: bool = False) -> str:
    """The broker to use: --broker, else the config's.

    Without either, refuse (exit 2) rather than guess: a default queue file created in
    whatever directory the command ran in is a queue no worker reads.
    """
    if broker_url:
        return broker_url
    if config_path.exists():
        return (load_readable(config_path) if readonly else load(config_path)).broker_url
    fail(
        f"no configuration found: {config_path} does not exist; give one with --config FILE "
        f"or BEAT_CONFIG=FILE (or run where schedules.yaml is), or name the broker with "
        f"--broker URL"
    )


def open_broker_or_fail(url: str) -> Broker:
    from taskqueue.errors import TaskqueueError
    from taskqueue.urls import open_broker

    try:
        broker = open_broker(url)
        broker.ping()
    except TaskqueueError as e:
        if isinstance(e, ValueError):
            fail(f"--broker: {e}")
        raise RuntimeProblem(str(e)) from e
    return broker


# A date with an offset but no time (2099-01-01Z, 2099-01-01-05:00): midnight at that offset.
# datetime.fromisoformat refuses the first and reads the second as 05:00 without an offset.
_DATE_WITH_OFFSET = re.compile(r"(\d{4}-\d{2}-\d{2})([zZ]|[+-]\d{2}(?::?\d{2})?)")


def parse_instant(value: str, option: str, zone: ZoneInfo | None = None) -> datetime:
    """An ISO-8601 instant with an offset; naive date-times are refused (SPEC 5).

    A date alone is midnight: at its offset when it has one, else local midnight in ``zone``
    (the schedule's zone; the fixed-time rule if midnight is skipped), else refused. Every
    form the refusal suggests is accepted.
    """
    text = value.strip()
    dated = _DATE_WITH_OFFSET.fullmatch(text)
    if dated is not None:
        text = f"{dated[1]}T00:00{dated[2]}"
    elif zone is not None:
        day = _date_only(text)
        if day is not None:
            from beat.time.cron_dst import resolve_fixed

            return resolve_fixed(datetime.combine(day, time()), zone)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: {value!r} is not an ISO-8601 date-time (e.g. 2026-03-08T02:30:00Z)")
    if parsed.tzinfo is None:
        utc = parsed.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
        west = parsed.replace(tzinfo=timezone(timedelta(hours=-5))).isoformat()
        fail(f"{option}: naive datetime {value!r}: add a UTC offset (e.g. {utc} or {west})")
    return parsed


def _date_only(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def parse_zone(name: str, option: str) -> ZoneInfo:
    from beat.time import zones

    try:
        return zones.get(name)
    except (zones.ZoneInfoNotFoundError, ValueError):
        from beat.suggest import did_you_mean

        fail(f"{option}: unknown time zone {name!r}{did_you_mean(name, _zones())}")


def _zones() -> Sequence[str]:
    from beat.time import zones

    return sorted(zones.available())


def duration(value: str, option: str, *, zero: bool = False) -> timedelta:
    from beat.time.durations import parse_duration

    try:
        return parse_duration(value, option, allow_zero=zero)
    except ValueError as e:
        fail(str(e))


def find_entry(config: Config, name: str) -> Entry:
    entry = config.entries.get(name)
    if entry is None:
        from beat.suggest import did_you_mean

        fail(f"{config.path}: no entry named {name!r}{did_you_mean(name, list(config.entries))}")
    return entry


def _print_version(ctx: click.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from beat import __version__
    from beat.time import zones

    click.echo(f"beat, version {__version__}\ntzdata {zones.tzdata_version()}")
    ctx.exit()


# --- the group and the daemon ---------------------------------------------------------------


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-s",
    "--schedule",
    "state",
    default=DEFAULT_STATE,
    show_default=True,
    help="Run state: a SQLite file or any SQLAlchemy URL.",
)
@config_option
@broker_option
@click.option("-l", "--loglevel", default="INFO", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None)
@click.option(
    "--lookahead",
    default=None,
    help="Enqueue fires this long before their instant, with the instant as eta "
    "(default: the config's beat.lookahead, else 3s; 0 to disable).",
)
@click.option(
    "--source",
    "source_url",
    default=None,
    help="Also read entries from this database (overrides the config's source:).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on 127.0.0.1:PORT (default: the config's metrics_port).",
)
@click.option(
    "--lease-ttl",
    default=None,
    help="Leader lease time: a standby takes over this long after the leader dies "
    "(default: the config's beat.leader_lease, else 5s).",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx, value),
    help="Show beat's version and the tzdata version its zones come from, and exit.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    state: str,
    config_path: Path,
    broker_url: str | None,
    loglevel: str,
    log_format: str | None,
    lookahead: str | None,
    source_url: str | None,
    metrics_port: int | None,
    lease_ttl: str | None,
) -> None:
    """beat: a periodic scheduler. Without a command, runs the scheduler daemon."""
    ctx.obj = {"state": state}
    if ctx.invoked_subcommand is not None:
        return
    from daemonkit.logs import configure_logging

    config = load(config_path)
    if source_url is not None:
        from dataclasses import replace

        config = replace(config, source=source_url)
    configure_logging(loglevel.upper(), log_format or config.log_format)  # type: ignore[arg-type]
    from beat.service import run_daemon
    from taskqueue.errors import BrokerError

    try:
        run_daemon(
            config,
            state,
            broker_url,
            lookahead=None if lookahead is None else duration(lookahead, "--lookahead", zero=True),
            metrics_port=metrics_port,
            lease_ttl=None if lease_ttl is None else duration(lease_ttl, "--lease-ttl"),
        )
    except BrokerError as e:
        raise RuntimeProblem(str(e)) from e


# --- beat next --------------------------------------------------------------------------------


@cli.command("next")
@click.argument("entry_name", required=False)
@click.option("--cron", "cron_expr", help="An ad-hoc cron expression.")
@click.option("--every", "every", help="An ad-hoc interval (e.g. 30s, 1h30m).")
@click.option("--start", "start", help="Phase anchor for --every (ISO-8601 with offset).")
@click.option("--name", "hash_name", default="", help="Entry name used by H in --cron.")
@click.option("--tz", "tz", default=None, help="Zone for --cron/--every (default UTC).")
@click.option("--after", "after", default=None, help="List fires strictly after this instant.")
@click.option("-n", "count", type=click.IntRange(min=1, max=100_000), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array of ISO-8601 instants.")
@config_option
@click.pass_context
def next_cmd(
    ctx: click.Context,
    entry_name: str | None,
    cron_expr: str | None,
    every: str | None,
    start: str | None,
    hash_name: str,
    tz: str | None,
    after: str | None,
    count: int,
    as_json: bool,
    config_path: Path,
) -> None:
    """The next fire times of ENTRY, or of an ad-hoc --cron/--every schedule."""
    from itertools import islice

    from beat.errors import ScheduleError

    chosen = [x for x in (entry_name, cron_expr, every) if x is not None]
    if len(chosen) != 1:
        fail("next: give exactly one of ENTRY, --cron EXPR or --every DURATION")
    if start is not None and every is None:
        fail("--start: only applies to --every")
    now = datetime.now(UTC)
    schedule: Schedule
    if entry_name is not None:
        if tz is not None:
            fail("--tz: only applies to --cron/--every (an entry has its own zone)")
        entry = find_entry(load_all_entries(config_path, readonly=True), entry_name)
        # A date alone is local midnight in the entry's zone.
        since = parse_instant(after, "--after", entry.schedule.zone) if after else None
        fires = list(islice(_entry_fires(ctx.obj["state"], entry, now, after=since), count))
        from beat.render import render_next

        click.echo(render_next(entry.schedule.anchored(now), fires, as_json=as_json))
        return
    from beat.time import schedules

    zone = parse_zone(tz or "UTC", "--tz")
    try:
        if cron_expr is not None:
            schedule = schedules.Cron(cron_expr, zone, name=hash_name)
        else:
            assert every is not None
            anchor = parse_instant(start, "--start", zone) if start else None
            schedule = schedules.Interval(duration(every, "--every"), anchor, zone).anchored(now)
    except ScheduleError as e:
        fail(f"{'--cron' if cron_expr is not None else '--every'}: {e}")
    # A date alone is local midnight in the schedule's zone.
    when = parse_instant(after, "--after", schedule.zone) if after else now
    fires = list(islice(schedule.iter_after(when), count))
    from beat.render import render_next

    click.echo(render_next(schedule, fires, as_json=as_json))


# --- beat check / list / config -----------------------------------------------------------------


@cli.command("check")
@config_option
def check_cmd(config_path: Path) -> None:
    """Validate the configuration; print every problem; exit 2 if any."""
    config = load(config_path)
    entries = config.entries
    if config.source != "yaml":
        from beat.errors import ConfigError
        from beat.sources.sql import read_source

        entries, problems = read_source(config)
        if problems:
            raise ConfigError(problems)
    enabled = sum(e.enabled for e in entries.values())
    click.echo(f"{config.path}: OK, {len(entries)} entries ({enabled} enabled)")


@cli.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_cmd(ctx: click.Context, config_path: Path, as_json: bool) -> None:
    """Every entry: schedule, zone, queue, last fire, next fire, enabled."""
    from beat.render import render_list

    config = load_all_entries(config_path, readonly=True)
    states = _read_states(ctx.obj["state"])
    leader = None if as_json else _leader(config.broker_url)
    click.echo(render_list(config, states, datetime.now(UTC), as_json=as_json, leader=leader))


def _leader(broker_url: str) -> tuple[Any, str | None]:
    """Who holds the beat leader lease in ``broker_url``: (holder or None, problem or None).

    Never fails the command: an unreachable broker is reported on the line instead. A SQLite
    queue file that does not exist has no leader (and is not created by looking).
    """
    from beat.leader import DEFAULT_LEASE_NAME
    from taskqueue.errors import TaskqueueError
    from taskqueue.urls import redact_url

    if broker_url.startswith("sqlite:"):
        from taskqueue.sqlite import sqlite_path

        try:
            if not sqlite_path(broker_url).exists():
                return None, None
        except TaskqueueError as e:
            return None, str(e)
    broker: Broker | None = None
    try:
        if broker_url.startswith(("redis://", "rediss://", "unix://")):
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


def _entry_fires(
    state_url: str, entry: Entry, now: datetime, *, after: datetime | None
) -> Iterator[datetime]:
    """``entry``'s fires from the same run state ``beat list`` and the daemon read: without
    ``after`` its first item is ``beat list``'s next fire, even when that fire is overdue."""
    from beat.planner import first_state, upcoming
    from beat.time.schedules import Interval

    stored = _read_states(state_url).get(entry.name)
    if stored is None and isinstance(entry.schedule, Interval) and entry.schedule.start is None:
        click.echo(
            f"note: no run state for {entry.name!r} in {state_url}: its phase is set when beat "
            "first sees it; these fires are for a beat seeing it now",
            err=True,
        )
    state = first_state(entry, now, stored)
    return upcoming(entry, state, after)


def _read_states(state: str) -> dict[str, Any]:
    """The run state if it exists (``beat list`` works before the first run too)."""
    if "://" not in state and not Path(state).exists():
        return {}
    from beat.errors import StateError
    from beat.state import StateStore

    try:
        store = StateStore(state)
        try:
            return dict(store.load())
        finally:
            store.close()
    except StateError as e:
        raise RuntimeProblem(str(e)) from e


@cli.command("config")
@config_option
@click.option("--json", "as_json", is_flag=True)
def config_cmd(config_path: Path, as_json: bool) -> None:
    """The effective configuration, secrets redacted."""
    from beat.render import render_config

    config = load(config_path)
    click.echo(render_config(config, as_json=as_json, leader=_leader(config.broker_url)))


# --- beat send / trigger / queues / status ------------------------------------------------------


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
    broker = open_broker_or_fail(resolve_broker_url(config_path, broker_url))
    try:
        broker.enqueue_once(message)
    finally:
        broker.close()
    click.echo(message.id)


@cli.command("trigger")
@click.argument("entry_name")
@config_option
@broker_option
def trigger_cmd(entry_name: str, config_path: Path, broker_url: str | None) -> None:
    """Enqueue ENTRY's task now, outside its schedule, and print the task id."""
    from beat.messages import build_message
    from taskqueue.message import new_task_id

    config = load_all_entries(config_path)
    entry = find_entry(config, entry_name)
    now = datetime.now(UTC)
    task_id = new_task_id()
    # A manual run is not a scheduled fire: no scheduled_for, and a random id.
    try:
        message = build_message(entry, message_id=task_id, enqueued_at=now, scheduled_for=None)
        message.encode()  # a message the broker would refuse is a usage error, not a crash
    except ValueError as e:
        fail(f"trigger: {e}")
    broker = open_broker_or_fail(broker_url or config.broker_url)
    try:
        broker.enqueue_once(message)
    finally:
        broker.close()
    click.echo(task_id)


@cli.command("queues")
@click.option("--json", "as_json", is_flag=True)
@config_option
@broker_option
def queues_cmd(as_json: bool, config_path: Path, broker_url: str | None) -> None:
    """Every queue: ready, delayed, in flight, dead-lettered, live consumers."""
    from beat.render import render_queues

    broker = open_broker_or_fail(resolve_broker_url(config_path, broker_url, readonly=True))
    try:
        stats = broker.queue_stats()
    finally:
        broker.close()
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
    from beat.render import render_status

    broker = open_broker_or_fail(resolve_broker_url(config_path, broker_url, readonly=True))
    try:
        status = broker.get_status(task_id)
    finally:
        broker.close()
    click.echo(render_status(task_id, status, as_json=as_json))
    if status is None:
        raise click.exceptions.Exit(EXIT_UNKNOWN_TASK)


cli.add_command(entries_group)


# --- entry point: errors mapped to exit codes in one place --------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    from beat.errors import BeatError, ConfigError, SourceError, StateError
    from taskqueue.errors import TaskqueueError

    try:
        # Without standalone mode click returns (not raises) a click.exceptions.Exit's code.
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="beat", standalone_mode=False
        )
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except ConfigError as e:
        for problem in e.problems:
            click.echo(f"error: {problem}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(2)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except (StateError, SourceError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    except BeatError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    except TaskqueueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)
    sys.exit(0)
