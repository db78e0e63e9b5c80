"""The ``beat`` command line: the only part of beat that reads argv/env and configures logging.

One module per command or small group, each registering on the group of
:mod:`beat.cli.group`; exit codes in :mod:`beat.cli.errors`. Imports are deferred to the
command that needs them: ``beat next`` must start in well under 150 ms, so importing this
package never loads SQLAlchemy or redis-py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

# Importing a command module registers its commands on ``cli``.
from beat.cli import backfill, check, entries, history, inspect, next, pause, queues, send  # noqa: F401
from beat.cli.errors import run
from beat.cli.group import cli

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``beat`` console script (and ``python -m beat``)."""
    run(cli, argv)
