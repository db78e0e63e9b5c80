"""release_free_memory (issue 17): memory freed inside the C heap goes back to the system."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from beat.memory import release_free_memory


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc")
def test_freed_heap_pages_below_a_live_block_are_returned() -> None:
    # 60 MB of 1 KB blocks (above pymalloc's 512 bytes: the C heap), then one block kept at
    # the top, so the heap cannot shrink from its end: what start-up leaves after a parse.
    blocks = [bytes(1000) + bytes([i % 256]) for i in range(60_000)]
    top = bytes(1000) + b"top"
    del blocks
    before = _rss()
    release_free_memory()
    after = _rss()
    assert top.endswith(b"top")
    assert before - after > 20_000_000, (before, after)
