"""Loading many entries with the cyclic GC paused (issue 17): no automatic collection walks
the objects being built, and the GC is as it was afterwards, error or not."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beat.config import load_config
from beat.memory import gc_paused


@pytest.fixture
def collections() -> Iterator[list[int]]:
    seen: list[int] = []

    def hook(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(hook)
    try:
        yield seen
    finally:
        gc.callbacks.remove(hook)


def test_loading_many_entries_runs_no_collection(tmp_path: Path, collections: list[int]) -> None:
    lines = [f"  e{i}: {{task: app.t{i % 5}, every: {i % 7 + 1}m}}" for i in range(5_000)]
    path = tmp_path / "schedules.yaml"
    path.write_text("entries:\n" + "\n".join(lines) + "\n")
    assert gc.isenabled()
    collections.clear()  # only those during the load
    config = load_config(path)
    assert len(config.entries) == 5_000
    # Tens of thousands of objects made, and at most the one young collection that re-enabling
    # the GC sets off (on the code before: one every 700 allocations, full ones among them).
    assert len(collections) <= 1 and 2 not in collections
    assert gc.isenabled()


def test_gc_paused_restores_the_gc_as_it_was() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the outer one decides
            pass
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # off before: off after
    finally:
        gc.enable()
