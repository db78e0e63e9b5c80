"""The daemon's start-up cache of ``schedules.yaml``: an unchanged file is not parsed again
(issue 17: parsing 100,000 entries is most of a cold start).

The file is one of :mod:`beat.cache.files` (keyed by the file and the code, written
atomically and privately, read as untrusted), placed beside the SQLite state store
(:func:`cache_file_for`: a service may have no home); a state store in PostgreSQL has no
cache. What this module adds is its payload: the configuration in its normalised form, not
Python objects: the top level (every key but ``entries:``), each distinct entry setting once
(:func:`entry_to_mapping`, with its content hash), and the entries' names with the index of
their setting. A warm start validates all of it again with the same rules as a cold one (each
distinct setting once, see :class:`~beat.config.spec_cache.SpecCache`), then compares every
entry's content hash with the one the cold start computed. So the cache is never trusted: a
file that does not verify (rejected by :func:`beat.cache.files.read`, its structure, a hash
that differs, any problem on validation) is ignored with a warning and the file is read as on
a cold start. Written only after a load with no problems, and only when the top level is
plain JSON (entries are kept in their normalised form, whose instants are ISO strings).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from beat.cache import files
from beat.cache.entry_codec import spec_table
from beat.config.model import Config, ReadyHook
from beat.config.serialise import entry_to_mapping
from beat.entries import Entry

log = logging.getLogger("beat.config")


def cache_file_for(state_url: str) -> Path | None:
    """Where the start-up cache of a beat whose state is ``state_url`` lives: beside a SQLite
    file (a plain path or ``sqlite:///path``); None for any other store."""
    if "://" not in state_url:
        raw = state_url
    elif state_url.startswith("sqlite:///"):
        raw = state_url.removeprefix("sqlite:///").split("?", 1)[0]
        if not raw or raw == ":memory:":
            return None
    else:
        return None
    path = Path(raw).expanduser()
    return path.with_name(path.name + ".config-cache")


def load(
    cache: Path, key: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[str]] | None:
    """The cache at ``cache`` for the source file ``key`` names: (top level, entries by name,
    the content hash each entry must have); None when there is none for this file. A cache
    that does not verify is reported and ignored."""
    try:
        payload = files.read(cache, key)
        return None if payload is None else _decode(payload)
    except files.Rejected as e:
        reason = str(e)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        reason = f"not valid ({e})"
    log.warning("start-up cache %s: ignored, %s: reading the config file", cache, reason)
    return None


def _decode(data: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    if not isinstance(data, dict):
        raise ValueError("not a start-up cache")
    top, specs, names, spec_of = data["top"], data["specs"], data["names"], data["spec_of"]
    if not (isinstance(top, dict) and "entries" not in top):
        raise ValueError("top level is not a mapping without entries")
    if not (isinstance(specs, list) and isinstance(names, list) and isinstance(spec_of, list)):
        raise ValueError("entries are not lists")
    if len(names) != len(spec_of):
        raise ValueError("names and settings differ in number")
    for spec in specs:
        if not (
            isinstance(spec, list)
            and len(spec) == 2
            and isinstance(spec[0], dict)
            and isinstance(spec[1], str)
        ):
            raise ValueError("a setting is not [mapping, content hash]")
    # map, min, max: once per entry, so in C (issue 17).
    if spec_of and not (
        set(map(type, spec_of)) == {int} and 0 <= min(spec_of) <= max(spec_of) < len(specs)
    ):
        raise ValueError("a setting index is out of range")
    settings = [spec[0] for spec in specs]
    entries = dict(zip(names, map(settings.__getitem__, spec_of), strict=True))
    if len(entries) != len(names):
        raise ValueError("an entry name is repeated")
    return top, entries, list(map([spec[1] for spec in specs].__getitem__, spec_of))


def verified(config: Config, hashes: list[str]) -> bool:
    """Whether the entries validated from the cache are those the cold start had (their
    content hashes), in the same order."""
    return list(map(Entry.content_hash, config.entries.values())) == hashes


def storer(cache: Path, key: dict[str, Any], root: Mapping[Any, Any]) -> ReadyHook:
    """What writes the cache of the file ``key`` names, whose top level is ``root`` (its
    ``entries`` are not read, nor kept), given the entries it gave: the write may wait until
    the beat is ready, and is then given the running beat's entries (the loaded dict is handed
    over to the roster and emptied; a file edited since is not written for, see
    :func:`beat.cache.files.write`). Nothing is written when a value is not plain JSON; a
    failure to write is only logged (the next start is a cold one)."""
    top = {k: v for k, v in root.items() if k != "entries"}

    def store(entries: Mapping[str, Entry]) -> None:
        if not _plain(top):
            return
        try:
            files.write(cache, key, _payload(top, entries))
        except OSError as e:
            log.warning("start-up cache %s: cannot write it (%s)", cache, e)

    return store


def _payload(top: dict[str, Any], entries: Mapping[str, Entry]) -> dict[str, Any]:
    # Settings by content: entries whose specs differ only by what the name decides (an H
    # schedule) write one mapping, read back under each name. The content hash covers every
    # setting but ``enabled``. The settings are plain JSON by construction (arguments were
    # checked to be: see beat.config.checker.plain); anything else fails on writing, or on
    # reading (content hashes).
    names: list[str] = []

    def of_the_file() -> Iterator[Entry]:
        # The running beat's entries are the file's and, with a SQL source, its rows: only
        # the file's are the file's cache (rows read back as the file's would each clash
        # with a row, which then never ran as the table has it). One pass, in their order.
        for name, entry in entries.items():
            if entry.source == "yaml":
                names.append(name)
                yield entry

    specs, spec_of = spec_table(
        of_the_file(),
        lambda entry: [entry_to_mapping(entry), entry.content_hash()],
        lambda entry: (entry.content_hash(), entry.enabled),
    )
    return {"top": top, "specs": specs, "names": names, "spec_of": spec_of}


_SCALARS = (str, int, bool, type(None))


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` reads back from JSON as itself, with the same types (no dates, no
    tuples, no keys that are not strings)."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > 64:
        return False
    if isinstance(value, list):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False
