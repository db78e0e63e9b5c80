"""What the read-only broker commands (``beat queues``, ``status``, ``workers``) share: their
options and the broker opened for reading."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from beat.cli.loading import broker_errors, resolve_broker_url
from beat.cli.options import broker_option, config_option
from beat.views.broker import BrokerReader

F = TypeVar("F", bound=Callable[..., Any])


def read_options(f: F) -> F:
    """``--json``, ``--config`` and ``--broker`` (passed as ``as_json``, ``config_path`` and
    ``broker_url``)."""
    return click.option("--json", "as_json", is_flag=True)(config_option(broker_option(f)))


@contextmanager
def reading(config_path: Path, broker_url: str | None) -> Iterator[BrokerReader]:
    """The broker (``broker_url``, or the configuration's) opened for reading (pinged, unless
    it is the SQLite file: a missing one reads as empty and is not created), its errors
    mapped to exit codes by :func:`broker_errors`, closed afterwards."""
    reader = BrokerReader(resolve_broker_url(config_path, broker_url, readonly=True))
    try:
        with broker_errors():
            reader.open()
            yield reader
    finally:
        reader.close()
