"""What every ``beat`` command module shares: the exit-code exceptions and the common options.

Kept apart from :mod:`beat.cli` so command modules (``beat entries``) import it at the top
without importing the main group (no import circle).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CONFIG = "schedules.yaml"


class UsageProblem(click.ClickException):
    """Bad input: exit 2 with one ``error:`` line."""

    exit_code = 2


class RuntimeProblem(click.ClickException):
    """A runtime failure (broker or database): exit 1."""

    exit_code = 1


def fail(message: str) -> NoReturn:
    raise UsageProblem(message)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=lambda: os.environ.get("BEAT_CONFIG", DEFAULT_CONFIG),
        show_default="$BEAT_CONFIG or ./schedules.yaml",
        help="The schedules.yaml file.",
    )(f)


def parse_json(value: str | None, option: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except ValueError as e:
        fail(f"{option}: not valid JSON: {e}")
    if not isinstance(parsed, kind):
        fail(f"{option}: expected a JSON {'array' if kind is list else 'object'}")
    return parsed
