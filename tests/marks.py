"""The marks file the test task modules write, so a test sees which runs started and ended."""

from __future__ import annotations


def append_mark(path: str, text: str) -> None:
    """Append the line ``text`` to ``path``: one short O_APPEND write, so lines from several
    processes never interleave."""
    with open(path, "a") as f:
        f.write(text + "\n")
