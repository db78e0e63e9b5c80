"""What a read-only command can still answer from a ``schedules.yaml`` with errors.

The daemon keeps running the last valid configuration when an edit breaks it, so ``beat list``,
``next``, ``queues`` and ``status`` should not go dark either: they answer from the entries
that validate and print the problems as warnings. Only problems inside ``entries.<name>``
are tolerated (that entry is left out); a problem anywhere else (broker, timezone, defaults,
...) changes what every answer would mean, and a file that does not parse has nothing valid,
so those still raise :class:`ConfigError`. ``beat check`` keeps using the strict loader.
"""

from __future__ import annotations

from pathlib import Path

from beat.config.model import Config
from beat.config.top import read_config
from beat.errors import ConfigError, Problem


def _entry_problem(problem: Problem) -> bool:
    return problem.path.startswith("entries.")


def load_valid_entries(path: Path) -> tuple[Config, list[Problem]]:
    """The configuration with only its valid entries, and the problems of the others.

    Raises ConfigError when a problem is not confined to one entry (see the module doc).
    """
    config, problems = read_config(path)
    if config is None or not all(_entry_problem(p) for p in problems):
        raise ConfigError(problems)
    return config, problems
