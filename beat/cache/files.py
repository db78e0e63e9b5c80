"""Cache files: the one mechanism of every cache of what a file parses to (see :mod:`beat.cache`).

A document is ``{"key": ..., "payload": ...}``. The key (:func:`source_key`) names the source
file's resolved path, size and blake2b digest (its content: a file written again with the same
bytes, a restored backup, keeps its cache; no mtime), the cache format, and a fingerprint of
the code that parsed it (:func:`code_fingerprint`). :func:`write` stores one atomically, private
(0600 in a folder no one else can write), and only while the source is still as keyed;
:func:`read` reads one as untrusted input: a file not owned by this user or writable by
others, too large, not JSON or not a document is :class:`Rejected`; a document written for
another key is simply not there. What a payload holds, and how it is checked, is its user's.
The folder is the caller's: :func:`named` places a file in :func:`cache_dir`, the daemon's
start-up cache lives beside its state store (a service may have no home).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

FORMAT = 2
# A larger document is not read (a cache of ~1,000,000 entries is a few hundred MB; parsing
# such a document costs more than it saves over reading the configuration again).
MAX_BYTES = 256 << 20
_PACKAGE = Path(__file__).resolve().parent.parent  # beat/
_ROOT = _PACKAGE.parent
# The code whose output a cache holds: the configuration's validation, the values it builds
# and the payloads' codecs.
_CODE_DIRS = ("beat/config", "beat/time", "beat/cache", "taskqueue")
_CODE_FILES = (
    "beat/entries.py",
    "beat/messages.py",
    "beat/cli/cached.py",
    "daemonkit/yaml_input.py",
    "daemonkit/yaml_repeats.py",
    "daemonkit/yaml_tree.py",
    "daemonkit/yaml_values.py",
)


class Rejected(Exception):
    """A cache file that is there but is not believed (the reason is the message)."""


def digest(data: bytes) -> str:
    """The one digest of cache keys and names: blake2b, 128 bits."""
    try:  # hashlib's own blake2b, without importing hashlib (OpenSSL set-up, ~2.5 ms)
        from _blake2 import blake2b
    except ImportError:  # a Python built without its own blake2
        from hashlib import blake2b
    return blake2b(data, digest_size=16).hexdigest()


def cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/beat``, else ``~/.cache/beat``; None without either."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    if not os.path.isabs(base):  # the XDG rule: a relative value is ignored
        home = os.environ.get("HOME") or ""
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "beat"


def code_fingerprint() -> str:
    """beat's version, Python's, the tzdata release and the newest mtime of the code a cache
    depends on: editing a validation rule in a checkout invalidates every cache."""
    from beat import __version__

    newest = 0
    count = 0
    for name in _CODE_FILES:
        newest = max(newest, os.stat(_ROOT / name).st_mtime_ns)
    for folder in _CODE_DIRS:
        with os.scandir(_ROOT / folder) as found:
            for item in found:
                if item.name.endswith(".py"):
                    newest = max(newest, item.stat().st_mtime_ns)
                    count += 1
    python = ".".join(map(str, sys.version_info[:2]))
    tzdata = getattr(sys.modules.get("tzdata"), "IANA_VERSION", "")
    return f"{__version__}/{python}/{tzdata}/{count}/{newest}"


def source_key(path: Path, limit: int | None = None) -> dict[str, Any] | None:
    """What a cache of ``path`` is valid for; None when ``path`` cannot be read (or is larger
    than ``limit`` bytes: no reader would take it)."""
    found = read_source(path, limit)
    return None if found is None else found[0]


def read_source(path: Path, limit: int | None = None) -> tuple[dict[str, Any], bytes] | None:
    """:func:`source_key` and the bytes it was made from: a reader that parses them on a
    cache miss reads the file once, and parses what the key names."""
    try:
        resolved = path.resolve()
        with open(resolved, "rb") as source:
            data = source.read(-1 if limit is None else limit + 1)
        fingerprint = code_fingerprint()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop in resolve()
        return None
    if limit is not None and len(data) > limit:
        return None
    key = {
        "format": FORMAT,
        "code": fingerprint,
        "path": str(resolved),
        # As given: problems name the file so (`-c ./x.yaml` and `-c /abs/x.yaml` differ).
        "given": str(path),
        "size": len(data),
        "blake2b": digest(data),
    }
    return key, data


def named(kind: str, key: dict[str, Any]) -> Path | None:
    """The file of ``kind``'s cache of the source ``key`` names, in :func:`cache_dir`."""
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"{kind}-{digest(key['path'].encode())}.json"


def _private(info: os.stat_result) -> bool:
    """Ours and writable by no one else: a file another user could write is not believed."""
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read(where: Path, key: dict[str, Any]) -> Any:
    """The payload stored at ``where`` for ``key``; None when there is no file or it was
    written for another key (another file, another beat). Raises :class:`Rejected`."""
    try:
        folder = os.stat(where.parent)
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:  # ELOOP: a symlink
        raise Rejected(f"cannot open it ({e})") from None
    try:
        info = os.fstat(fd)
        if not (_private(folder) and _private(info) and stat.S_ISREG(info.st_mode)):
            raise Rejected("not a file of this user's, in a folder only this user can write")
        if info.st_size > MAX_BYTES:
            raise Rejected(f"larger than {MAX_BYTES >> 20} MiB")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            document = json.loads(stream.read())
    except (OSError, ValueError, RecursionError) as e:  # unreadable, not JSON
        raise Rejected(f"not readable as JSON ({type(e).__name__})") from None
    finally:
        os.close(fd)
    if not (isinstance(document, dict) and "key" in document and "payload" in document):
        raise Rejected("not a cache document")
    return document["payload"] if document["key"] == key else None


def write(where: Path, key: dict[str, Any], payload: Any) -> None:
    """Store ``payload`` for ``key`` at ``where``, atomically (a reader sees the old document
    or the new one), and only while the source is still what ``key`` names (a file edited
    since it was read is not cached under its old key). Nothing when a value is not plain
    JSON; OSError when the folder cannot be made or written (the caller says or ignores it)."""
    try:
        text = json.dumps({"key": key, "payload": payload}, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # a value JSON cannot hold: nothing is cached
        return
    if source_key(Path(key["given"])) != key:
        return
    where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(os.stat(where.parent)):
        raise PermissionError(f"{where.parent} is not only this user's to write")
    temporary = where.with_name(f"{where.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, where)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
