"""``schedules.yaml`` -> a tree of values whose mappings remember their lines.

The bounded loader itself is :mod:`daemonkit.yaml_tree` (the worker reads the file with it
too); this module turns what can go wrong on the way (missing file, not UTF-8, over a bound,
malformed YAML) into problems with lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from beat.config.checker import Checker
from daemonkit.yaml_input import read_yaml_bytes, yaml_error_line, yaml_error_message
from daemonkit.yaml_tree import Lined, TreeBuilder, YamlLimitExceeded

# `read_tree`'s answer when nothing could be read (None is a valid, empty document).
UNREADABLE: Any = object()


def read_tree(
    path: Path,
    checker: Checker,
    stream: tuple[str, Callable[[Lined, Any, Any, int], Any]] | None = None,
    data: bytes | None = None,
) -> Any:
    """The document at ``path`` as values (mappings are :class:`~daemonkit.yaml_tree.Lined`),
    or :data:`UNREADABLE` after reporting why. Problems inside an otherwise readable document
    (duplicate keys, odd tags) are reported and the rest is returned. ``stream``: see
    :class:`~daemonkit.yaml_tree.TreeBuilder`. ``data``: the file's bytes, if already read
    (within :data:`~daemonkit.yaml_input.MAX_YAML_BYTES`)."""
    text = _read_text(path, checker, data)
    if text is None:
        return UNREADABLE
    try:
        return TreeBuilder(checker.report, stream=stream).build(text)
    except YamlLimitExceeded as e:
        checker.report(e.line, e.path, e.message)
    except yaml.YAMLError as e:
        checker.report(yaml_error_line(e, text), "", yaml_error_message(e, text))
    return UNREADABLE


def _read_text(path: Path, checker: Checker, data: bytes | None) -> str | None:
    try:
        if data is None:
            data = read_yaml_bytes(path)
    except YamlLimitExceeded as e:
        checker.report(None, "", e.message)
        return None
    except FileNotFoundError:
        checker.report(None, "", "file not found")
        return None
    except IsADirectoryError:
        checker.report(None, "", "is a directory, not a file")
        return None
    except OSError as e:
        checker.report(None, "", f"cannot read: {e.strerror or e}")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        checker.report(line, "", f"not UTF-8 text (byte {e.start})")
        return None
