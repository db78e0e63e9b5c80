"""``beat next ENTRY`` and ``beat list`` from the parsed-configuration cache (:mod:`beat.cache`),
issue 17.

``beat next`` must answer in under 100 ms; reading ``schedules.yaml`` costs PyYAML's import and
the validation of every entry (~35 ms). After one full read, what a read-only command learns
from the file (its resolved path, its broker, the ``warning:`` lines of entries left out, each
valid entry in order) is cached, keyed by the file (path, size, mtime_ns, digest) and the code
that validated it; while both are unchanged, the command prints the same warnings and builds
the entries it needs (``next``: one) from the cache without importing PyYAML or
``beat.config``. Anything else is the ordinary read (and refreshes the cache): a changed or
unreadable file, a missing, corrupt or foreign cache, an entry whose spec JSON cannot hold, a
configuration with ``source:`` a database (its entries live there), a configuration with
problems outside an entry (it exits 2).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from beat.cli.loading import no_entry, warn_left_out, with_source_entries

if TYPE_CHECKING:
    from beat.config import Config
    from beat.entries import Entry, EntrySpec

# The cache kind: what `load_all_entries(readonly=True)` gives a read-only command.
KIND = "readable"


class Readable:
    """What ``beat next`` and ``beat list`` use of a configuration read with
    ``load_all_entries(readonly=True)``: its resolved path, its broker, its valid entries (from
    a cache read for one entry: that one only) and every valid entry's name, in file order."""

    __slots__ = ("broker_url", "entries", "names", "path")

    def __init__(
        self, path: str, broker_url: str, entries: dict[str, Entry], names: list[str]
    ) -> None:
        self.path = path
        self.broker_url = broker_url
        self.entries = entries
        self.names = names


def readonly_entry(config_path: Path, name: str) -> Entry:
    """The entry ``name`` of ``config_path``, with the warnings and errors of
    ``find_entry(load_all_entries(config_path, readonly=True), name)``, cached."""
    readable = read_readable(config_path, only=name)
    entry = readable.entries.get(name)
    if entry is None:
        no_entry(readable.path, name, readable.names)
    return entry


def read_readable(config_path: Path, only: str | None = None) -> Readable:
    """``load_all_entries(config_path, readonly=True)`` (its warnings printed, its errors
    raised), from the cache when it holds the file as it is now. ``only``: the one entry the
    caller needs (the others are not built from the cache)."""
    from beat.cache import files

    # No cache folder (HOME unset): not even the file's key is worth computing.
    key = None if files.cache_dir() is None else files.source_key(config_path)
    where = None if key is None else files.named(KIND, key)
    if key is not None and where is not None:
        with contextlib.suppress(files.Rejected):  # a cache not believed: the file is read
            found = _cached(files.read(where, key), only)
            if found is not None:
                return found
    from beat.config.partial import load_valid_entries

    config, problems = load_valid_entries(config_path)
    warnings = [str(problem) for problem in problems]
    warn_left_out(warnings)
    if where is not None and key is not None and config.source == "yaml":
        with contextlib.suppress(OSError):  # a read-only home: no cache, no complaint
            files.write(where, key, _payload(config, warnings))
    config = with_source_entries(config)
    return Readable(str(config.path), config.broker_url, config.entries, list(config.entries))


def _payload(config: Config, warnings: list[str]) -> dict[str, Any]:
    """Each distinct spec once (entries differing only by name share one), each entry as the
    index of its spec, -1 for an entry not cached (its spec does not survive JSON)."""
    from beat.cache.entry_codec import encode_spec, spec_table

    specs, positions = spec_table(config.entries.values(), lambda entry: encode_spec(entry.spec))
    return {
        "path": str(config.path),
        "broker_url": config.broker_url,
        "warnings": warnings,
        "specs": specs,
        "entries": dict(zip(config.entries, positions, strict=True)),
    }


def _cached(payload: Any, only: str | None) -> Readable | None:
    """The configuration from a cached payload, after the warnings the full read printed;
    None, with nothing printed, when the payload cannot answer: the caller reads the file."""
    try:
        readable, warnings = _decoded(payload, only)
    except Exception:  # a corrupt cache is a miss, whatever it trips over
        return None
    warn_left_out(warnings)
    return readable


def _decoded(payload: Any, only: str | None) -> tuple[Readable, list[str]]:
    """``payload`` as :func:`_payload` writes it, and its warnings; raises when it is not
    that, or when an entry to build was not cached."""
    from beat.cache.entry_codec import decode_spec
    from beat.entries import Entry

    path, broker_url = payload["path"], payload["broker_url"]
    warnings, positions = payload["warnings"], payload["entries"]
    names = list(positions)
    if not all(isinstance(x, str) for x in (path, broker_url, *warnings, *names)):
        raise ValueError("not a cache of a configuration")
    specs: dict[int, EntrySpec] = {}
    entries: dict[str, Entry] = {}
    for name in names if only is None else [n for n in (only,) if n in positions]:
        at = positions[name]
        if isinstance(at, bool) or not isinstance(at, int) or at < 0:
            raise ValueError(f"{name}: not cached")
        spec = specs.get(at)
        if spec is None:
            spec = specs[at] = decode_spec(payload["specs"][at])
        entries[name] = Entry.of(name, spec)
    return Readable(path, broker_url, entries, names), warnings
