"""The test's SQLite queue file: its URL, and raw SQL run on it the way no broker writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def sqlite_url(tmp_path: Path) -> str:
    """The URL of the queue file ``tmp_path/queue.db``."""
    return f"sqlite:///{tmp_path / 'queue.db'}"


def raw_sql(tmp_path: Path, *statements: str) -> None:
    """Run ``statements`` on the queue file with sqlite3 and commit (rows a test plants)."""
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        for statement in statements:
            conn.execute(statement)
