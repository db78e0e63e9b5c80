"""The values :mod:`daemonkit.yaml_tree` builds that remember where they were written."""

from __future__ import annotations

from typing import Any


class Lined(dict[Any, Any]):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Any, int] = {}


class LinedList(list[Any]):
    """A YAML sequence that remembers its line and each item's line (1-based)."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []
