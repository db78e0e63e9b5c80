"""A running beat (BeatService with a SQL source, in-process, real clock and SQLite broker)
follows the database: raw SQL edits, disables, deletes and concurrent writers take effect
within 2 s."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa

from beat.config import load_config
from beat.entries_api import EntryStore
from beat.service import BeatService
from taskqueue.sqlite import SQLiteBroker
from tests.taskqueue import single

pytestmark = pytest.mark.slow

YAML = """\
source: '{url}'
entries:
  y:
    task: noop
    every: 1s
    start: 2026-01-01T00:00:00Z
"""
EVERY_1S = {"task": "noop", "every": "1s", "start": "2026-01-01T00:00:00Z"}


class Running:
    def __init__(self, service: BeatService) -> None:
        self.service = service
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.service.run()
        except BaseException as e:  # reported by the test
            self.error = e

    def stop(self) -> None:
        self.service.request_stop()
        self.thread.join(15)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


@pytest.fixture
def beat_env(tmp_path: Path, db_url: str) -> Iterator[tuple[Path, str, str]]:
    config = tmp_path / "schedules.yaml"
    config.write_text(YAML.format(url=db_url))
    yield config, f"sqlite:///{tmp_path / 'queue.db'}", str(tmp_path / "schedule.db")


def start(config: Path, broker_url: str, state: str) -> Running:
    service = BeatService(load_config(config), state, broker_url=broker_url, lookahead=timedelta(0))
    running = Running(service)
    running.thread.start()
    deadline = time.monotonic() + 15
    while not service.entries and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.entries, "beat did not start"
    return running


def steps(times: list[datetime]) -> set[float]:
    return {(b - a).total_seconds() for a, b in pairwise(times)}


def fires(broker_url: str) -> dict[str, list[datetime]]:
    broker = SQLiteBroker(broker_url)
    seen: Counter[str] = Counter()
    while (
        d := single.claim(broker, ["default"], "t", timedelta(seconds=30), timedelta(0))
    ) is not None:
        seen[d.message_id] += 1
        single.ack(broker, d)
    broker.close()
    assert not seen or max(seen.values()) == 1, "a fire was enqueued twice"
    out: dict[str, list[datetime]] = {}
    for fire_id in seen:
        name, ms = fire_id.rsplit("@", 1)
        out.setdefault(name, []).append(datetime.fromtimestamp(int(ms) / 1000, UTC))
    return {name: sorted(times) for name, times in out.items()}


def test_running_beat_follows_raw_sql_edits(
    beat_env: tuple[Path, str, str], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config, broker_url, state = beat_env
    with EntryStore(db_url) as store:
        store.add("a", EVERY_1S)
        store.add("b", EVERY_1S)
        store.add("gone", EVERY_1S)
        store.add("y", EVERY_1S)  # clashes with the YAML entry: ignored, reported
    running = start(config, broker_url, state)
    assert sorted(running.service.entries) == ["a", "b", "gone", "y"]
    assert running.service.entries["y"].source == "yaml"
    time.sleep(2.2)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE beat_entries SET enabled = false WHERE name = 'b'"))
        conn.execute(sa.text("DELETE FROM beat_entries WHERE name = 'gone'"))
        conn.execute(
            sa.text(
                "INSERT INTO beat_entries (name, task, every, start) "
                "VALUES ('c', 'noop', '1s', '2026-01-01T00:00:00Z')"
            )
        )
    edited = datetime.now(UTC)
    engine.dispose()
    time.sleep(4.5)
    running.stop()
    got = fires(broker_url)
    # Unchanged entries kept their state: one fire every second, no gap, no repeat.
    for name in ("a", "y"):
        assert steps(got[name]) == {1.0}, (name, got[name])
    # Disabled and deleted rows stop firing within 2 s of the commit.
    limit = edited + timedelta(seconds=2)
    assert got["b"] and max(got["b"]) <= limit
    assert got["gone"] and max(got["gone"]) <= limit
    # The new row is picked up within 2 s; a new entry first fires at its next instant (the
    # next whole second here), then every second.
    picked_up = running.service.states["c"].first_seen
    assert edited < picked_up <= limit
    assert min(got["c"]) <= picked_up + timedelta(seconds=1)
    assert len(got["c"]) >= 2
    assert steps(got["c"]) == {1.0}
    assert caplog.text.count("the name is also an entry of schedules.yaml") == 1


def test_concurrent_writers_while_beat_runs(beat_env: tuple[Path, str, str], db_url: str) -> None:
    config, broker_url, state = beat_env
    running = start(config, broker_url, state)

    def writer(prefix: str) -> None:
        with EntryStore(db_url) as store:
            for i in range(15):
                store.add(f"{prefix}{i}", EVERY_1S)
                if i % 5 == 0:
                    store.disable(f"{prefix}{i}")

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("p", "q")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = datetime.now(UTC)
    time.sleep(3.5)
    service = running.service
    assert len(service.entries) == 31
    assert sorted(n for n, e in service.entries.items() if not e.enabled) == [
        "p0", "p10", "p5", "q0", "q10", "q5",
    ]  # fmt: skip
    running.stop()
    got = fires(broker_url)
    for prefix in ("p", "q"):
        for i in range(15):
            name = f"{prefix}{i}"
            if i % 5 == 0:
                # Disabled in the same poll window it was added in, or shortly after.
                assert max(got.get(name, [done])) <= done + timedelta(seconds=2)
            else:
                assert any(t > done + timedelta(seconds=2) for t in got[name]), name
