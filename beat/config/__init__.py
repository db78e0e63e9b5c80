"""``schedules.yaml`` -> a validated :class:`Config`, every problem reported with its line.

The rooms: :mod:`~beat.config.yaml_reading` (the file -> values with line marks),
:mod:`~beat.config.top` (the top level), :mod:`~beat.config.entry` and
:mod:`~beat.config.schedule` (one entry), :mod:`~beat.config.worker_section`,
:mod:`~beat.config.serialise` (an entry back to YAML), :mod:`~beat.config.model` (the
:class:`Config`), :mod:`~beat.config.partial` (what read-only commands accept),
:mod:`~beat.config.checker` (problems and single values) and :mod:`~beat.config.keys`.

The file is read from libyaml's event stream straight into values (the bounded loader of
:mod:`daemonkit.yaml_tree`): mappings become :class:`dict` subclasses that remember the line of
each key, so one validator serves both the YAML file (problems carry line numbers) and plain
Python mappings from the SQL source (:func:`validate_entry`, line None). Validation never stops
at the first problem: :class:`~beat.errors.ConfigError` lists all of them.

Choices the SPEC leaves open (also in the README):

* Entry names: 1-200 characters from ``A-Z a-z 0-9 _ . : @ -`` (they appear in message ids,
  logs and metrics labels, so no spaces or slashes).
* ``at:`` and a naive ``start:`` are local wall-clock times in the entry's zone; a value with a
  UTC offset (``Z``, ``+02:00``) is that instant. A naive ``start:`` in a DST gap means the
  instant of the change, in a repeated hour its first pass (the fixed-time rule). A date-only
  ``start:`` is local midnight.
* ``calendar:`` needs ``every`` (``1d``, ``2w``, ``3mo``, ``1y``) and ``start`` (a date);
  ``at`` defaults to ``00:00``.
* YAML 1.1 sexagesimal numbers are not applied: ``at: 9:30`` is the string ``"9:30"``, not 570.
* ``defaults:`` may set ``queue``, ``catch_up``, ``grace`` and ``options`` (merged per option).
* ``timezone: localtime`` is refused: the host's zone is never used.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from beat.config.entry import validate_entry
    from beat.config.keys import (
        BEAT_KEYS,
        CALENDAR_KEYS,
        DEFAULT_KEYS,
        ENTRY_KEYS,
        OPTION_KEYS,
        SCHEDULE_KINDS,
        TOP_KEYS,
        WORKER_KEYS,
    )
    from beat.config.model import Config
    from beat.config.partial import load_valid_entries
    from beat.config.serialise import entry_to_mapping
    from beat.config.top import load_config, read_config

# Each name's module, imported on first use (PEP 562): importing one room of the package (as
# `beat queues` imports beat.config.broker_section) must not import all of them (~35 ms of
# entry validation; issues 12 and 17).
_HOMES = {
    **dict.fromkeys(
        (
            *("BEAT_KEYS", "CALENDAR_KEYS", "DEFAULT_KEYS", "ENTRY_KEYS", "OPTION_KEYS"),
            *("SCHEDULE_KINDS", "TOP_KEYS", "WORKER_KEYS"),
        ),
        "beat.config.keys",
    ),
    "Config": "beat.config.model",
    "entry_to_mapping": "beat.config.serialise",
    "load_config": "beat.config.top",
    "load_valid_entries": "beat.config.partial",
    "read_config": "beat.config.top",
    "validate_entry": "beat.config.entry",
}


if not TYPE_CHECKING:  # hidden from mypy, which checks each name against its import above

    def __getattr__(name: str) -> Any:
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(__import__(home, fromlist=[name]), name)
        globals()[name] = value
        return value


__all__ = [
    "BEAT_KEYS",
    "CALENDAR_KEYS",
    "DEFAULT_KEYS",
    "ENTRY_KEYS",
    "OPTION_KEYS",
    "SCHEDULE_KINDS",
    "TOP_KEYS",
    "WORKER_KEYS",
    "Config",
    "entry_to_mapping",
    "load_config",
    "load_valid_entries",
    "read_config",
    "validate_entry",
]
