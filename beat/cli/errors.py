"""Exit codes of ``beat``, in one place: the problems commands raise and how each error ends.

SPEC 3: 0 success; 2 bad usage or invalid configuration/input, one ``error:`` line per problem
on stderr; 1 runtime failure (broker or state store unreachable); 3 ``beat status`` of an id the
broker has never seen (so a script can tell "unknown" from a result); 130 aborted (Ctrl-C).

Imports nothing of beat at load: every command module imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

import click

EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_UNKNOWN_TASK = 3
EXIT_ABORTED = 130


class UsageProblem(click.ClickException):
    """Bad input: exit 2 with one ``error:`` line."""

    exit_code = EXIT_USAGE


class RuntimeProblem(click.ClickException):
    """A runtime failure (broker or database): exit 1."""

    exit_code = EXIT_RUNTIME


def fail(message: str) -> NoReturn:
    raise UsageProblem(message)


def run(command: click.Command, argv: Sequence[str] | None) -> NoReturn:
    """Run ``command`` (the ``beat`` group) on ``argv`` and exit with the code its outcome maps
    to: the only place where an error becomes an exit status."""
    from beat.errors import BeatError
    from taskqueue.errors import TaskqueueError

    try:
        # Without standalone mode click returns (not raises) a click.exceptions.Exit's code.
        code = command.main(
            args=list(argv) if argv is not None else None, prog_name="beat", standalone_mode=False
        )
    except (click.exceptions.Exit, click.Abort, click.ClickException) as e:
        sys.exit(_click_exit_code(e))
    except (BeatError, TaskqueueError) as e:
        sys.exit(_error_exit_code(e))
    sys.exit(code if isinstance(code, int) else 0)


def _click_exit_code(error: click.exceptions.Exit | click.Abort | click.ClickException) -> int:
    if isinstance(error, click.exceptions.Exit):
        return error.exit_code
    if isinstance(error, click.Abort):
        _say("aborted")
        return EXIT_ABORTED
    _say(error.format_message())
    return EXIT_USAGE if isinstance(error, click.UsageError) else error.exit_code


def _error_exit_code(error: Exception) -> int:
    """Invalid configuration or input exits 2; a state store, SQL source or broker that cannot
    be used exits 1."""
    from beat.errors import BeatError, ConfigError, SourceError, StateError

    if isinstance(error, ConfigError):
        for problem in error.problems:
            _say(str(problem))
        return EXIT_USAGE
    _say(str(error))
    if isinstance(error, StateError | SourceError):
        return EXIT_RUNTIME
    return EXIT_USAGE if isinstance(error, BeatError) else EXIT_RUNTIME


def _say(message: str) -> None:
    click.echo(f"error: {message}", err=True)
