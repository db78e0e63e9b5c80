"""``broker:`` checked on its own, for the read-only broker commands.

``beat queues``, ``beat status`` and ``beat workers`` use nothing of the configuration but the
broker URL, so they read the file and check that key alone (:func:`read_broker_url`) instead of
validating every entry (~35 ms of schedule machinery, against their 150 ms budget: issues 12
and 17). A problem in ``broker:`` or in the file as a whole stops them with its file, line and
field; a problem anywhere else is ``beat check``'s business. :mod:`beat.config.top` checks the
key with the same :func:`check_broker_url`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from beat.config.checker import Checker
from beat.config.yaml_reading import UNREADABLE, read_tree
from beat.errors import ConfigError
from taskqueue.config_keys import default_broker_url
from taskqueue.config_text import describe

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_KEY = "broker"


def top_mapping(checker: Checker, root: Any) -> Mapping[Any, Any] | None:
    """The document's top level (an empty file is an empty one); None, reported, if it is
    not a mapping."""
    if root is None:
        return {}
    if isinstance(root, Mapping):
        return root
    checker.report(
        checker.line_of(root) or 1,
        "",
        f"expected a mapping at the top level (timezone, entries, ...), got {describe(root)}",
    )
    return None


def optional_url(checker: Checker, data: Mapping[Any, Any], key: str, what: str) -> str | None:
    """The URL under ``key``; None when it is absent, null or (after a problem) invalid."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _URL.match(value):
        return value
    checker.report(checker.line_of(data, key), key, f"expected {what}, got {describe(value)}")
    return None


def check_broker_url(checker: Checker, root: Mapping[Any, Any]) -> str | None:
    """The ``broker:`` URL; None when absent or (reported) invalid."""
    url = optional_url(checker, root, _KEY, "a broker URL like redis://localhost:6379/0")
    if url is None:
        return None
    # Imported here: three dataclasses (~2 ms) a configuration without a broker never needs.
    from taskqueue.redis_url import redis_url_problem

    problem = redis_url_problem(url)
    if problem is None:
        return url
    checker.report(checker.line_of(root, _KEY), _KEY, problem)
    return None


def read_broker_url(path: Path) -> str:
    """The broker the configuration ``path`` names (the default queue file beside it when it
    names none). Raises :class:`ConfigError` for a file that cannot be read as a mapping and
    for a problem in ``broker:`` (or a top-level key given twice: which one holds is in
    doubt); problems elsewhere are left to ``beat check``."""
    checker = Checker(str(path))
    tree = read_tree(path, checker)
    root = None if tree is UNREADABLE else top_mapping(checker, tree)
    url = None if root is None else check_broker_url(checker, root)
    ours = [p for p in checker.problems if p.path in ("", _KEY) or p.path.startswith(f"{_KEY}.")]
    if ours or root is None:
        raise ConfigError(ours)
    return url or default_broker_url(path.resolve())
