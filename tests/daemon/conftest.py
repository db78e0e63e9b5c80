"""Run real `beat` daemons as subprocesses and inspect what reached the broker."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from beat.state import EntryState, StateStore
from taskqueue.broker import Broker, Delivery
from taskqueue.urls import open_broker
from tests.logged_process import LoggedProcess, reaped
from tests.taskqueue import single

_STAMP = re.compile(r"^(\S+) ")

START = "2026-01-01T00:00:00Z"


def write_config(path: Path, n: int, *, every: str = "1s", extra: str = "") -> Path:
    """``n`` entries ``e0``.. every ``every`` from START, each with the ``extra`` lines."""
    lines = ["entries:"]
    for i in range(n):
        lines += [
            f"  e{i}:",
            "    task: noop",
            f"    every: {every}",
            f"    start: {START}",
            *[f"    {x}" for x in extra.splitlines() if x],
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class BeatProcess(LoggedProcess):
    started: float = field(default_factory=time.monotonic)

    WHAT: ClassVar[str] = "beat"

    def lines(self, needle: str) -> list[tuple[datetime, str]]:
        """Log lines containing ``needle``, with their timestamps."""
        out = []
        for line in self.log().splitlines():
            m = _STAMP.match(line)
            if needle in line and m:
                out.append((datetime.fromisoformat(m.group(1)), line))
        return out

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


StartBeat = Callable[..., BeatProcess]


@contextlib.contextmanager
def beat_starter(tmp_path: Path, *default_args: str) -> Iterator[StartBeat]:
    """Starts `python -m beat` processes logging into tmp_path; kills what is left at exit."""
    procs: list[BeatProcess] = []

    def start(config: Path, state: Path, broker_url: str, *extra: str) -> BeatProcess:
        log_path = tmp_path / f"beat-{len(procs)}.log"
        argv = [sys.executable, "-m", "beat", "-s", str(state), "--config", str(config),
                "--broker", broker_url, *default_args, *extra]  # fmt: skip
        beat = BeatProcess.launch(argv, log_path, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        procs.append(beat)
        return beat

    with reaped(procs):
        yield start


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    with beat_starter(tmp_path) as start:
        yield start


def drain_deliveries(broker: Broker, queue: str = "default") -> list[Delivery]:
    """Claim and ack everything in the queue, including fires enqueued ahead of their instant
    (lookahead) once they are due; the deliveries in the order claimed."""
    out: list[Delivery] = []
    while True:
        delivery = single.claim(broker, [queue], "test-drain", timedelta(seconds=30), timedelta(0))
        if delivery is None:
            if not any(s.delayed for s in broker.queue_stats()):
                return out
            time.sleep(0.1)
            continue
        out.append(delivery)
        assert single.ack(broker, delivery)


def drain_ids(broker: Broker, queue: str = "default") -> Counter[str]:
    """:func:`drain_deliveries`, as the count of each message id."""
    return Counter(d.message_id for d in drain_deliveries(broker, queue))


def drained(url: str, queue: str = "default") -> list[Delivery]:
    """:func:`drain_deliveries` on a broker (Redis or SQLite) opened for it and closed after."""
    broker = open_broker(url)
    try:
        return drain_deliveries(broker, queue)
    finally:
        broker.close()


def drain_url(url: str, queue: str = "default") -> Counter[str]:
    """:func:`drained`, as the count of each message id."""
    return Counter(d.message_id for d in drained(url, queue))


def load_states(path: Path) -> dict[str, EntryState]:
    """The run state stored in the state file at ``path``."""
    store = StateStore(str(path))
    try:
        return store.load()
    finally:
        store.close()
