"""Real brokers and real worker processes for the operator commands (``beat workers``,
``revoke``, ``dead``, ``purge``): the worker tests' fixtures, shared."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from beat.config import load_config
from beat.planner import first_state
from beat.state import StateStore
from taskqueue.broker import Broker
from tests.worker.conftest import StartWorker, broker, broker_url, start_worker  # noqa: F401


@dataclass(frozen=True)
class Ops:
    """What a test of an operator command against real workers uses: the broker (and its
    URL for the command line), workers to start, a directory for marks, the captured output."""

    broker_url: str
    broker: Broker
    start_worker: StartWorker
    tmp_path: Path
    capsys: pytest.CaptureFixture[str]


@pytest.fixture
def ops(
    broker_url: str,  # noqa: F811 (the fixtures imported above)
    broker: Broker,  # noqa: F811
    start_worker: StartWorker,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Ops:
    return Ops(broker_url, broker, start_worker, tmp_path, capsys)


def seed_state(config_path: Path, state_path: Path, first_seen: datetime) -> None:
    """A state file as a beat that first saw every entry at ``first_seen`` leaves it (real
    SQLite through the daemon's own store)."""
    config = load_config(config_path)
    store = StateStore(str(state_path))
    try:
        store.upsert_new([first_state(e, first_seen, None) for e in config.entries.values()])
    finally:
        store.close()
