"""``beat next ENTRY`` from the parsed-configuration cache (:mod:`beat.cache`), issue 17.

``beat next`` must answer in under 100 ms; reading ``schedules.yaml`` costs PyYAML's import and
the validation of every entry (~35 ms). After one full read, what a read-only command learns
from the file (its resolved path, the ``warning:`` lines of entries left out, each valid entry
in order) is cached, keyed by the file (path, size, mtime_ns, digest) and the code that
validated it; while both are unchanged, ``beat next`` prints the same warnings and builds the one
entry it needs from the cache without importing PyYAML or ``beat.config``. Anything else is the
ordinary read (and refreshes the cache): a changed or unreadable file, a missing, corrupt or
foreign cache, an entry whose spec JSON cannot hold, a configuration with ``source:`` a
database (its entries live there), a configuration with problems outside an entry (it exits 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from beat.cli.loading import no_entry, warn_left_out, with_source_entries

if TYPE_CHECKING:
    from beat.config import Config
    from beat.entries import Entry

# The cache kind: what `load_all_entries(readonly=True)` gives a read-only command.
KIND = "readable"


def readonly_entry(config_path: Path, name: str) -> Entry:
    """The entry ``name`` of ``config_path``, with the warnings and errors of
    ``find_entry(load_all_entries(config_path, readonly=True), name)``, cached."""
    from beat.cache import files

    # No cache folder (HOME unset): not even the file's key is worth computing.
    key = None if files.cache_dir() is None else files.source_key(config_path)
    if key is not None:
        found = _cached(files.read(KIND, key), name)
        if found is not None:
            return found
    from beat.config.partial import load_valid_entries

    config, problems = load_valid_entries(config_path)
    warnings = [str(problem) for problem in problems]
    warn_left_out(warnings)
    if key is not None and config.source == "yaml" and files.source_key(config_path) == key:
        files.write(KIND, key, _payload(config, warnings))  # only if read as keyed
    config = with_source_entries(config)
    entry = config.entries.get(name)
    if entry is None:
        no_entry(config.path, name, list(config.entries))
    return entry


def _payload(config: Config, warnings: list[str]) -> dict[str, Any]:
    """Each distinct spec once (entries differing only by name share one), each entry as the
    index of its spec, -1 for an entry not cached (its spec does not survive JSON)."""
    from beat.cache.entry_codec import encode_spec

    specs: list[Any] = []
    index: dict[int, int] = {}
    entries: dict[str, int] = {}
    for entry_name, entry in config.entries.items():
        at = index.get(id(entry.spec))
        if at is None:
            encoded = encode_spec(entry.spec)
            at = index[id(entry.spec)] = -1 if encoded is None else len(specs)
            if encoded is not None:
                specs.append(encoded)
        entries[entry_name] = at
    return {"path": str(config.path), "warnings": warnings, "specs": specs, "entries": entries}


def _cached(payload: Any, name: str) -> Entry | None:
    """The entry from a cached payload, after the warnings the full read printed (or the full
    read's error for a name that is not an entry); None, with nothing printed, when the payload
    cannot answer: the caller reads the file."""
    try:
        path, warnings, names, entry = _decoded(payload, name)
    except Exception:  # a corrupt cache is a miss, whatever it trips over
        return None
    warn_left_out(warnings)
    if entry is None:
        no_entry(path, name, names)
    return entry


def _decoded(payload: Any, name: str) -> tuple[str, list[str], list[str], Entry | None]:
    """``payload``'s path, warnings, entry names and entry ``name`` (None if not an entry);
    raises when the payload is not what :func:`_payload` writes or the entry was not cached."""
    from beat.cache.entry_codec import decode_entry

    path, warnings, entries = payload["path"], payload["warnings"], payload["entries"]
    names = list(entries)
    if not all(isinstance(x, str) for x in (path, *warnings, *names)):
        raise ValueError("not a cache of a configuration")
    at = entries.get(name)
    if at is None:
        return path, warnings, names, None
    if isinstance(at, bool) or not isinstance(at, int) or at < 0:
        raise ValueError(f"{name}: not cached")
    return path, warnings, names, decode_entry(name, payload["specs"][at])
