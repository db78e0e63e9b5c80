"""The one zone database of beat: the ``tzdata`` package, never the host's files.

zoneinfo reads ``PYTHONTZPATH`` or the host's ``/usr/share/zoneinfo`` before the ``tzdata``
package, so two hosts (a high-availability pair, a laptop running ``beat next`` and the
daemon) with different system data would compute different fires. Importing this module
sets zoneinfo's search path, for the whole process, to the package's own ``zoneinfo``
directory (the same files zoneinfo's fallback reads through importlib.resources, which costs
~5 ms of start-up to import), and drops zones already cached from the old path.
``beat/__init__.py`` imports it, so it applies before any beat module builds a zone; every
zone beat builds goes through :func:`get`.

Upgrading the data is ``pip install -U tzdata`` (``beat --version`` shows the version in use).
"""

from __future__ import annotations

import importlib
import os
import zoneinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

try:
    _tzdata: Any = importlib.import_module("tzdata")  # untyped: no py.typed
except ImportError as exc:  # pragma: no cover - a declared dependency
    raise ImportError(
        "beat reads time zones from the tzdata package only (the same data on every host); "
        "install it: pip install tzdata"
    ) from exc

__all__ = ["ZoneInfoNotFoundError", "available", "get", "tzdata_version"]


def _package_path() -> tuple[str, ...]:
    """The package's zone directory as a search path; empty (zoneinfo then reads the package
    through importlib.resources) if the package is not a plain directory (a zip)."""
    directory = os.path.join(os.path.dirname(os.path.abspath(_tzdata.__file__)), "zoneinfo")
    return (directory,) if os.path.isdir(directory) else ()


zoneinfo.reset_tzpath(to=_package_path())
ZoneInfo.clear_cache()


def get(name: str) -> ZoneInfo:
    """The IANA zone ``name`` from the tzdata package.

    Raises ZoneInfoNotFoundError (a KeyError) or ValueError for a name that is not a zone.
    """
    return ZoneInfo(name)


def available() -> set[str]:
    """Every zone name the tzdata package holds."""
    return zoneinfo.available_timezones()


def tzdata_version() -> str:
    """``"2026.6 (IANA 2026f)"``: the package's version and the IANA release it carries."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("tzdata")
    except PackageNotFoundError:  # importable but not installed as a distribution
        package = "unknown"
    return f"{package} (IANA {_tzdata.IANA_VERSION})"
