"""What the ``beat`` commands load: the configuration (whole, or its valid entries with a
warning per invalid one), the SQL source's entries, one entry by name, the broker and the run
state. A missing or invalid thing fails with its exit code (:mod:`beat.cli.errors`).

Heavy imports (SQLAlchemy, redis-py) happen inside the function that needs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from beat.cli.errors import RuntimeProblem, fail

if TYPE_CHECKING:
    from beat.config import Config
    from beat.config.model import ReadyHook
    from beat.entries import Entry
    from taskqueue.broker import Broker


def load(
    config_path: Path,
    cache: Path | None = None,
    later: list[ReadyHook] | None = None,
) -> Config:
    """The whole configuration; ``cache``, ``later``: the daemon's start-up cache, read and
    written by the daemon only (see :func:`beat.config.top.read_config`)."""
    from beat.config import load_config

    return load_config(config_path, cache, later)


def load_readable(config_path: Path) -> Config:
    """For read-only commands (list, next): the configuration with the entries
    that validate, each problem of the others printed as a ``warning:`` line on stderr (the
    daemon, too, keeps running what is valid). Problems outside an entry still exit 2."""
    from beat.config.partial import load_valid_entries

    config, problems = load_valid_entries(config_path)
    warn_left_out([str(problem) for problem in problems])
    return config


def warn_left_out(problems: list[str]) -> None:
    """The ``warning:`` lines of :func:`load_readable` (also replayed from a cache)."""
    for problem in problems:
        click.echo(f"warning: {problem} (entry left out)", err=True)


def load_all_entries(config_path: Path, *, readonly: bool = False) -> Config:
    """The config with the SQL source's entries merged in (``source:`` a database URL), for
    commands that look entries up: list, next, trigger, config. ``readonly``: tolerate invalid
    entries (see :func:`load_readable`)."""
    return with_source_entries(load_readable(config_path) if readonly else load(config_path))


def with_source_entries(config: Config) -> Config:
    """``config`` with the SQL source's entries merged in when ``source:`` is a database."""
    if config.source == "yaml":
        return config
    from dataclasses import replace

    from beat.sources.sql import merged_entries

    return replace(config, entries=merged_entries(config))


def find_entry(config: Config, name: str) -> Entry:
    entry = config.entries.get(name)
    if entry is None:
        no_entry(config.path, name, list(config.entries))
    return entry


def no_entry(config_path: Path | str, name: str, names: list[str]) -> NoReturn:
    from taskqueue.config_text import did_you_mean

    fail(f"{config_path}: no entry named {name!r}{did_you_mean(name, names)}")


def resolve_broker_url(config_path: Path, broker_url: str | None, *, readonly: bool = False) -> str:
    """The broker to use: --broker, else the config's. ``readonly`` (queues, status, workers):
    only ``broker:`` is checked (:func:`beat.config.broker_section.read_broker_url`), the
    rest of the file is ``beat check``'s business; else the whole configuration must be valid.

    Without either, refuse (exit 2) rather than guess: a default queue file created in
    whatever directory the command ran in is a queue no worker reads.
    """
    if broker_url:
        return broker_url
    if config_path.exists():
        if readonly:
            from beat.config.broker_section import read_broker_url

            return read_broker_url(config_path)
        return load(config_path).broker_url
    fail(
        f"no configuration found: {config_path} does not exist; give one with --config FILE "
        f"or BEAT_CONFIG=FILE (or run where schedules.yaml is), or name the broker with "
        f"--broker URL"
    )


@contextmanager
def broker_errors() -> Iterator[None]:
    """A bad broker URL exits 2 (usage), a broker that fails to answer exits 1."""
    from taskqueue.errors import TaskqueueError

    try:
        yield
    except TaskqueueError as e:
        if isinstance(e, ValueError):
            fail(f"--broker: {e}")
        raise RuntimeProblem(str(e)) from e


def open_broker_or_fail(url: str) -> Broker:
    from taskqueue.urls import open_broker

    with broker_errors():
        broker = open_broker(url)
        broker.ping()
    return broker


def read_states(state: str) -> dict[str, Any]:
    """The run state if it exists (:func:`beat.views.states.read_states`); a store that
    cannot be read exits 1."""
    from beat.errors import StateError
    from beat.views.states import read_states as read

    try:
        return dict(read(state))
    except StateError as e:
        raise RuntimeProblem(str(e)) from e


def read_entry(state: str, name: str) -> tuple[Any, Any]:
    """The run state and the pause of the entry ``name``, None where it has none
    (:func:`beat.views.states.read_entry`), read like :func:`read_states`."""
    from beat.errors import StateError
    from beat.views.states import read_entry as read

    try:
        return read(state, name)
    except StateError as e:
        raise RuntimeProblem(str(e)) from e


def read_pauses(state: str) -> dict[str, Any]:
    """The pauses kept in the run state (``beat pause``), read like :func:`read_states`."""
    from beat.errors import StateError
    from beat.views.states import read_pauses as read

    try:
        return dict(read(state))
    except StateError as e:
        raise RuntimeProblem(str(e)) from e
