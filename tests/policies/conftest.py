"""Real beat processes (lease time 1 s, no lookahead) and the ``beat`` CLI as a subprocess, for
the entry policies: pause, history, backfill, overlap."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from beat.config import load_config
from beat.service import BeatService
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import StartBeat, beat_starter
from tests.fake_clock import FakeClock
from tests.worker.conftest import StartWorker, worker_env, worker_starter

HERE = Path(__file__).parent


# Where the lookahead beats' entries start (and their clock, 1 ms after).
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def lookahead_beat(
    tmp_path: Path, redis_url: str, entries: dict[str, str]
) -> tuple[BeatService, RedisBroker, FakeClock]:
    """An in-process beat (3 s lookahead, injected clock at T0 + 1 ms) over ``entries`` (name:
    its settings in flow style, each given ``start: T0``), real Redis and SQLite; not started."""
    cfg = tmp_path / "schedules.yaml"
    lines = [
        f"  {name}: {{{settings}, start: {T0.isoformat()}}}\n" for name, settings in entries.items()
    ]
    cfg.write_text("entries:\n" + "".join(lines))
    broker = RedisBroker(redis_url)
    clock = FakeClock(T0 + timedelta(milliseconds=1))
    beat = BeatService(
        load_config(cfg), str(tmp_path / "s.db"), broker=broker, clock=clock,
        lookahead=timedelta(seconds=3),
    )  # fmt: skip
    return beat, broker, clock


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    with beat_starter(tmp_path, "--lease-ttl", "1s", "--lookahead", "0") as start:
        yield start


def beat_cli(config: Path, state: Path, *args: str) -> str:
    """Run ``beat ARGS`` in its own process; its stdout (a failure shows its stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "beat", "-s", str(state), *args[:1], "--config", str(config),
         *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def beat_json(config: Path, state: Path, *args: str) -> Any:
    return json.loads(beat_cli(config, state, *args, "--json"))


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[StartWorker]:
    """Worker processes with the policy tasks (``policy_tasks.py``); killed at teardown."""
    with worker_starter(tmp_path, ["-A", "policy_tasks"], worker_env(HERE)) as start:
        yield start
