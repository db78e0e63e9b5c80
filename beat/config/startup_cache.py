"""The daemon's start-up cache of ``schedules.yaml``: an unchanged file (same bytes) is not
parsed again (issue 17: parsing 100,000 entries is most of a cold start).

What is kept is the configuration in its normalised form, not Python objects: the top level
(every key but ``entries:``), each distinct entry setting once (:func:`entry_to_mapping`, with
its content hash), and the entries' names with the index of their setting. A warm start
validates all of it again with the same rules as a cold one (each distinct setting once, see
:class:`~beat.config.spec_cache.SpecCache`), then compares every entry's content hash with
the one the cold start computed. So the cache is never trusted: a file that does not verify
(its own checksum, its structure, a hash that differs, any problem on validation) is ignored
with a warning and the file is read as on a cold start. Written only after a load with no
problems, and only when the top level is plain JSON (entries are kept in their normalised
form, whose instants are ISO strings).

The file sits next to the SQLite state store (:func:`cache_file_for`); a state store in
PostgreSQL has no cache. Its checksum guards against corruption (a truncated or damaged
file), not against someone who can write it: whoever can write there can write the state
store too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beat import __version__
from beat.config.model import Config
from beat.config.serialise import entry_to_mapping

log = logging.getLogger("beat.config")

_FORMAT = 1
# Far above what 1,000,000 entries write (names and indexes: ~25 MB).
_MAX_BYTES = 512 * 1024 * 1024


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


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stamp(digest: str) -> dict[str, Any]:
    """What must match for a cache to be used at all: the file's bytes and this beat."""
    python = ".".join(map(str, sys.version_info[:2]))
    return {"format": _FORMAT, "beat": __version__, "python": python, "file": digest}


def load(cache: Path, digest: str) -> tuple[dict[str, Any], dict[str, Any], list[str]] | None:
    """The cache at ``cache`` for a file of ``digest``: (top level, entries by name, the
    content hash each entry must have); None when there is none for this file. A cache that
    does not verify is reported and ignored."""
    try:
        with cache.open("rb") as f:
            raw = f.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("start-up cache %s: cannot read it (%s): reading the config file", cache, e)
        return None
    try:
        return _decode(raw, digest)
    except _Stale:
        return None
    except (ValueError, TypeError, KeyError, IndexError, RecursionError) as e:
        log.warning("start-up cache %s: ignored, not valid (%s): reading the config file", cache, e)
        return None


class _Stale(Exception):
    """A sound cache of another file (or another beat): not a problem, just not used."""


def _decode(raw: bytes, digest: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    if len(raw) > _MAX_BYTES:
        raise ValueError("too large")
    payload, newline, check = raw.rpartition(b"\n")
    if not newline or hashlib.sha256(payload).hexdigest().encode() != check:
        raise ValueError("checksum mismatch (a damaged or truncated file)")
    data = json.loads(payload)
    if not isinstance(data, dict) or not isinstance(data.get("stamp"), dict):
        raise ValueError("not a start-up cache")
    if data["stamp"] != _stamp(digest):
        raise _Stale
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
    if not all(type(i) is int and 0 <= i < len(specs) for i in spec_of):
        raise ValueError("a setting index is out of range")
    settings = [spec[0] for spec in specs]
    entries = dict(zip(names, (settings[i] for i in spec_of), strict=True))
    if len(entries) != len(names):
        raise ValueError("an entry name is repeated")
    return top, entries, [specs[i][1] for i in spec_of]


def verified(config: Config, hashes: list[str]) -> bool:
    """Whether the entries validated from the cache are those the cold start had (their
    content hashes), in the same order."""
    if len(config.entries) != len(hashes):
        return False
    return all(e.content_hash() == h for e, h in zip(config.entries.values(), hashes, strict=True))


def store(cache: Path, digest: str, root: Mapping[Any, Any], config: Config) -> None:
    """Write the cache for ``config``, read from a file of ``digest`` whose top level is
    ``root`` (its ``entries`` are not read). Nothing is written when a value is not plain
    JSON; a failure to write is only logged (the next start is a cold one)."""
    top = {k: v for k, v in root.items() if k != "entries"}
    index: dict[int, int] = {}
    specs: list[list[Any]] = []
    spec_of: list[int] = []
    # Settings by content: entries whose specs differ only by what the name decides (an H
    # schedule) write one mapping, read back under each name. The content hash covers every
    # setting but ``enabled``.
    by_content: dict[tuple[str, bool], int] = {}
    for entry in config.entries.values():
        at = index.get(id(entry.spec))
        if at is None:
            content = (entry.content_hash(), entry.enabled)
            at = by_content.get(content)
            if at is None:
                at = by_content[content] = len(specs)
                specs.append([entry_to_mapping(entry), content[0]])
            index[id(entry.spec)] = at
        spec_of.append(at)
    if not _plain(top):
        return
    # The settings are plain JSON by construction (arguments were checked to be: see
    # beat.config.checker.plain); anything else fails here, or on reading (content hashes).
    body = {"stamp": _stamp(digest), "top": top, "specs": specs}
    body |= {"names": list(config.entries), "spec_of": spec_of}
    try:
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        return
    check = hashlib.sha256(payload).hexdigest().encode()
    temporary = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(payload + b"\n" + check)
        os.replace(temporary, cache)
    except OSError as e:
        with contextlib.suppress(OSError):
            temporary.unlink()
        log.warning("start-up cache %s: cannot write it (%s)", cache, e)


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
