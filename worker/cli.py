"""``worker``: the console script. Reads argv and the configuration, sets up logging, runs.

Exit codes: 0 clean shutdown, 1 runtime failure (broker unreachable after retries), 2 bad usage
or configuration (one ``error:`` line per problem).
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from taskqueue.errors import BrokerError, TaskqueueError

if TYPE_CHECKING:
    from worker.settings import WorkerSettings

EXIT_RUNTIME = 1
EXIT_USAGE = 2


def _fail(problems: list[str]) -> None:
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(EXIT_USAGE)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-Q", "--queues", help="Comma-separated queues, highest priority first.")
@click.option("-c", "--concurrency", type=click.IntRange(min=1), help="Pool size (default: CPUs).")
@click.option("-P", "--pool", type=click.Choice(["prefork", "threads"]), help="Pool kind.")
@click.option("-A", "--app", "modules", multiple=True, help="Module registering tasks (repeat).")
@click.option("-n", "--name", help="Worker name (default worker@HOST:PID).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="schedules.yaml (default: ./schedules.yaml if present).",
)
@click.option("--lease", help="Message lease, e.g. 30s (renewed while a task runs).")
@click.option("--broker", "broker_url", help="Broker URL (overrides the configuration).")
@click.option("--shutdown-timeout", help="How long running tasks may finish on shutdown.")
@click.option("--max-tasks-per-child", type=click.IntRange(min=1))
@click.option("--max-memory-per-child", type=click.IntRange(min=1), help="KiB per pool process.")
@click.option(
    "--max-deliveries",
    type=click.IntRange(min=1),
    help="Dead-letter a task delivered this often without an outcome (default 3).",
)
@click.option(
    "-l",
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error", "DEBUG", "INFO", "WARNING", "ERROR"]),
)
@click.option("--log-format", type=click.Choice(["text", "json"]))
@click.option("-B", "--beat", "embed_beat", is_flag=True, help="Run a beat in this service.")
@click.option("-s", "--schedule", "schedule_db", help="Beat state for -B (default schedule.db).")
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on 127.0.0.1:PORT.",
)
def command(
    queues: str | None,
    concurrency: int | None,
    pool: str | None,
    modules: tuple[str, ...],
    name: str | None,
    config_file: Path | None,
    lease: str | None,
    broker_url: str | None,
    shutdown_timeout: str | None,
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
    max_deliveries: int | None,
    loglevel: str | None,
    log_format: str | None,
    embed_beat: bool,
    schedule_db: str | None,
    metrics_port: int | None,
) -> None:
    """Run a worker: claim tasks from the queues and run them in a pool."""
    from taskqueue.config_keys import DEFAULT_CONFIG_FILE, default_broker_url

    if config_file is None and Path(DEFAULT_CONFIG_FILE).is_file():
        config_file = Path(DEFAULT_CONFIG_FILE)
    settings, problems = _read_settings(config_file)
    section = settings.section
    durations = _option_durations(
        (("lease", lease), ("shutdown-timeout", shutdown_timeout)), problems
    )
    if schedule_db is not None and not embed_beat:
        problems.append("-s/--schedule: only meaningful with -B")
    queue_list = _queue_list(queues if queues is not None else section.queues)
    if not queue_list:
        problems.append("-Q/--queues: no queue named")
    if problems:
        _fail(problems)

    from daemonkit.logs import configure_logging
    from taskqueue.records import DEFAULT_RESULT_TTL
    from worker.consumer import DEFAULT_LEASE, DEFAULT_MAX_DELIVERIES, DEFAULT_SHUTDOWN_TIMEOUT
    from worker.errors import PoolError
    from worker.service import WorkerConfig, default_worker_name, run_worker

    configure_logging(
        (loglevel or section.loglevel or "info").upper(),
        "json" if (log_format or section.log_format) == "json" else "text",
    )
    from worker.import_path import add_task_import_dirs

    add_task_import_dirs(config_file)
    config = WorkerConfig(
        broker_url=broker_url or settings.broker or default_broker_url(config_file),
        queues=queue_list,
        concurrency=concurrency or section.concurrency or os.cpu_count() or 1,
        pool=pool or section.pool or "prefork",
        modules=[*settings.imports, *modules],
        name=name or section.name or default_worker_name(),
        lease=durations.get("lease") or section.lease or DEFAULT_LEASE,
        shutdown_timeout=(
            durations.get("shutdown-timeout")
            or section.shutdown_timeout
            or DEFAULT_SHUTDOWN_TIMEOUT
        ),
        max_tasks_per_child=max_tasks_per_child or section.max_tasks_per_child,
        max_memory_per_child=max_memory_per_child or section.max_memory_per_child,
        max_deliveries=max_deliveries or section.max_deliveries or DEFAULT_MAX_DELIVERIES,
        embedded_beat_state=(schedule_db or "schedule.db") if embed_beat else None,
        config_path=config_file,
        metrics_port=metrics_port if metrics_port is not None else section.metrics_port,
        commands=tuple(section.commands or ()),
        command_env=tuple(section.command_env or ()),
        routes=settings.routes,
        result_expires=section.result_expires or DEFAULT_RESULT_TTL,
    )
    try:
        run_worker(config)
    except ImportError as e:
        _fail([f"cannot import task module: {e}"])
    except PoolError as e:
        # Pool processes that cannot start (a task module failing at import in the child).
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_RUNTIME)
    except (TaskqueueError, ValueError) as e:
        if isinstance(e, BrokerError):
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_RUNTIME)
        _fail([str(e)])


def _read_settings(config_file: Path | None) -> tuple[WorkerSettings, list[str]]:
    """The configuration file's settings (empty without one), and its problems."""
    from worker.settings import SettingsError, WorkerSettings, load_settings

    if config_file is None:
        return WorkerSettings(), []
    try:
        return load_settings(config_file), []
    except SettingsError as e:
        return WorkerSettings(), list(e.problems)


def _option_durations(
    options: tuple[tuple[str, str | None], ...], problems: list[str]
) -> dict[str, timedelta]:
    """The duration options given on the command line, parsed; problems appended."""
    from taskqueue.durations import parse_duration

    durations: dict[str, timedelta] = {}
    for key, value in options:
        if value is not None:
            try:
                durations[key] = parse_duration(value, f"--{key}")
            except ValueError as e:
                problems.append(str(e))
    return durations


def _queue_list(queues: str | list[str] | None) -> list[str]:
    """``-Q a,b`` or the configuration's list; ``default`` when neither names any."""
    if isinstance(queues, str):
        return [q.strip() for q in queues.split(",") if q.strip()]
    return list(queues or ["default"])


def main() -> None:
    """Console-script entry point."""
    try:
        command.main(prog_name="worker", standalone_mode=False)
    except click.UsageError as e:
        _fail([e.format_message()])
    except click.Abort:
        sys.exit(EXIT_RUNTIME)
