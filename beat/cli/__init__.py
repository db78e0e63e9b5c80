"""The ``beat`` command line: the only part of beat that reads argv/env and configures logging.

One module per command or small group, each registering on the group of
:mod:`beat.cli.group`; exit codes in :mod:`beat.cli.errors`.

Adding a command: write its module (``@cli.command("name")`` on :data:`beat.cli.group.cli`)
and add one line ``"name": "beat.cli.module"`` to :data:`COMMANDS` below. The group imports
a command's module only when that command runs (``--help`` imports them all), and each module
defers its heavy imports to the function that needs them: read-only commands must answer in
under 150 ms and ``beat next`` in under 100 ms (issues 12 and 17), so ``beat list`` loads
neither ``beat entries``' code nor SQLAlchemy or redis-py. tests/cli/test_readonly_imports.py
pins what each read-only command does not import, and that this table names every command.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from beat.cli.errors import run
from beat.cli.group import cli

__all__ = ["COMMANDS", "cli", "main"]

# Every command and the module that registers it (imported when the command is used).
COMMANDS = {
    "backfill": "beat.cli.backfill",
    "check": "beat.cli.check",
    "config": "beat.cli.inspect",
    "dead": "beat.cli.dead",
    "entries": "beat.cli.entries",
    "history": "beat.cli.history",
    "import-celery": "beat.cli.import_celery",
    "list": "beat.cli.inspect",
    "next": "beat.cli.next",
    "pause": "beat.cli.pause",
    "purge": "beat.cli.dead",
    "queues": "beat.cli.queues",
    "resume": "beat.cli.pause",
    "revoke": "beat.cli.revoke",
    "send": "beat.cli.send",
    "status": "beat.cli.queues",
    "trigger": "beat.cli.send",
    "web": "beat.cli.web",
    "web-password": "beat.cli.web",
    "workers": "beat.cli.workers",
}
cli.modules = COMMANDS


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``beat`` console script (and ``python -m beat``)."""
    run(cli, argv)
