"""Cache files: one JSON document per (kind, source file), written atomically, read as a miss
whenever anything about it is off (see :mod:`beat.cache`).

A document is ``{"key": ..., "payload": ...}``; the key (:func:`source_key`) names the source
file's resolved path, size, mtime_ns and blake2b digest, the cache format, and a fingerprint of
the code that parsed it (beat's version, the tzdata release, the mtimes of the modules that
validate a configuration: editing a validation rule in a checkout invalidates the cache).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

FORMAT = 1
# A larger document is not read (a cache of ~1,000,000 entries is a few hundred MB; parsing
# such a document costs more than it saves over reading the configuration again).
MAX_BYTES = 256 << 20
_PACKAGE = Path(__file__).resolve().parent.parent  # beat/
_ROOT = _PACKAGE.parent
# The code whose output a cache holds: the configuration's validation and the values it builds.
_CODE_DIRS = ("beat/config", "beat/time", "beat/cache", "taskqueue")
_CODE_FILES = ("beat/entries.py", "beat/messages.py", "daemonkit/yaml_tree.py")


def _blake2b(data: bytes) -> str:
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
    """beat's version, the tzdata release and the newest mtime of the validating modules."""
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
    tzdata = getattr(sys.modules.get("tzdata"), "IANA_VERSION", "")
    return f"{__version__}/{tzdata}/{count}/{newest}"


def source_key(path: Path) -> dict[str, Any] | None:
    """What a cache of ``path`` is valid for; None when ``path`` cannot be read."""
    try:
        resolved = path.resolve()
        with open(resolved, "rb") as source:
            info = os.fstat(source.fileno())
            data = source.read()
        fingerprint = code_fingerprint()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop in resolve()
        return None
    return {
        "format": FORMAT,
        "code": fingerprint,
        "path": str(resolved),
        # As given: problems name the file so (`-c ./x.yaml` and `-c /abs/x.yaml` differ).
        "given": str(path),
        "size": info.st_size,
        "mtime_ns": info.st_mtime_ns,
        "blake2b": _blake2b(data),
    }


def _file(kind: str, key: dict[str, Any]) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    return folder / f"{kind}-{_blake2b(key['path'].encode())}.json"


def _private(info: os.stat_result) -> bool:
    """Ours and writable by no one else: a file another user could write is not believed."""
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read(kind: str, key: dict[str, Any]) -> Any:
    """The payload stored for ``key`` under ``kind``; None on any miss."""
    where = _file(kind, key)
    if where is None:
        return None
    try:
        folder = os.stat(where.parent)
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not (_private(folder) and _private(info) and stat.S_ISREG(info.st_mode)):
            return None
        if info.st_size > MAX_BYTES:
            return None
        with os.fdopen(fd, "rb", closefd=False) as stream:
            document = json.loads(stream.read())
    except (OSError, ValueError, RecursionError):  # unreadable or not JSON: a miss
        return None
    finally:
        os.close(fd)
    if not isinstance(document, dict) or document.get("key") != key:
        return None
    return document.get("payload")


def write(kind: str, key: dict[str, Any], payload: Any) -> None:
    """Store ``payload`` for ``key`` (atomically: a reader sees the old document or the new
    one); silently nothing when the directory cannot be made or written (a read-only home)."""
    where = _file(kind, key)
    if where is None:
        return
    try:
        text = json.dumps({"key": key, "payload": payload}, separators=(",", ":"))
    except (TypeError, ValueError):  # a value JSON cannot hold: nothing is cached
        return
    temporary = where.with_name(f"{where.name}.{os.getpid()}.tmp")
    try:
        where.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(os.stat(where.parent)):
            return
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, where)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
