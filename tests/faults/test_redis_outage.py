"""Redis stops for ~3 s and comes back while a beat and a worker run (a private redis-server).

The beat must retry with backoff, then send what fell due per each entry's catch-up policy,
each fire once; the worker must reconnect and carry on; neither may flood its log.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from taskqueue.records import TaskState
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import load_states
from tests.faults import procs
from tests.faults.procs import Proc, RedisServer, StartProc, wait_until

# Fixtures, bound here rather than in a conftest.py: tests/worker imports its own
# conftest by the bare module name 'conftest', which another conftest.py could shadow.
private_redis = procs.private_redis
spawn = procs.spawn

START = datetime(2026, 1, 1, tzinfo=UTC)
OUTAGE_S = 3.0
# One line when the outage starts, one when it ends, and a little slack.
MAX_ERRORS = 3


def marking_entry(marks: Path, name: str, catch_up: str) -> str:
    """schedules.yaml lines of an entry that marks ``name`` in ``marks`` every second since
    START; ``catch_up: latest`` with a grace of 1s."""
    grace = "    grace: 1s\n" if catch_up == "latest" else ""
    return (
        f"  {name}:\n"
        "    task: f.mark\n"
        "    every: 1s\n"
        f"    start: {START.isoformat()}\n"
        f"    catch_up: {catch_up}\n"
        f"{grace}"
        f"    args: [{marks}, {name}]\n"
    )


def outage(server: RedisServer) -> tuple[datetime, datetime]:
    """Stop Redis for OUTAGE_S and start it again; (when it went down, when it came back)."""
    server.kill()
    down_at = datetime.now(UTC)
    time.sleep(OUTAGE_S)
    server.start()
    return down_at, datetime.now(UTC)


def fire_ids(client: Any, entry: str) -> set[str]:
    """Ids of the entry's fires the worker recorded (status keys survive the restart: AOF)."""
    keys = client.scan_iter(match=f"beat:status:{entry}@*", count=1000)
    return {k.decode().removeprefix("beat:status:") for k in keys}


def instant(fire: str) -> datetime:
    return datetime.fromtimestamp(int(fire.rsplit("@", 1)[1]) / 1000, UTC)


def starts(marks: Path, label: str) -> int:
    if not marks.exists():
        return 0
    return sum(1 for line in marks.read_text().splitlines() if line.startswith(f"start {label} "))


def assert_quiet(proc: Proc, what: str) -> None:
    log = proc.log()
    assert "Traceback" not in log, f"{what} logged a traceback during the outage:\n{log[-4000:]}"
    errors = proc.lines("ERROR")
    assert len(errors) <= MAX_ERRORS, f"{what}: {len(errors)} ERROR lines:\n" + "\n".join(errors)


@pytest.mark.slow
def test_beat_and_worker_ride_out_a_redis_restart(
    tmp_path: Path, private_redis: Any, spawn: StartProc
) -> None:
    server: RedisServer = private_redis()
    url = server.url()
    marks = tmp_path / "marks"
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "entries:\n"
        + marking_entry(marks, "all1", "all")
        + marking_entry(marks, "latest1", "latest")
    )
    state = tmp_path / "schedule.db"
    worker = spawn("worker", "--broker", url, "-A", "fault_tasks", "-c", "2", "--lease", "3s",
                   "--shutdown-timeout", "5s")  # fmt: skip
    # No lookahead: fires enqueued ahead of the outage would hide what the policies do.
    beat = spawn(
        "beat", "-s", str(state), "--config", str(config), "--broker", url, "--lookahead", "0"
    )
    worker.wait_for_log(" ready: ")
    beat.wait_for_log("beat started")
    wait_until(lambda: starts(marks, "all1") >= 2, 10, "the first fires to run")

    down_at, up_at = outage(server)
    beat.wait_for_log("dispatch recovered", timeout=20)
    time.sleep(2)
    assert beat.stop() == 0, beat.log()

    states = load_states(state)
    broker = RedisBroker(url)
    client: Any = redis.Redis.from_url(url)
    try:
        last = {name: states[name].last_fire for name in ("all1", "latest1")}
        assert last["all1"] is not None and last["latest1"] is not None
        assert last["all1"] > up_at - timedelta(seconds=1), "nothing sent after the outage"

        # Every fire the beat recorded reaches the worker and is run (the worker reconnected).
        def all_done() -> bool:
            ids = fire_ids(client, "all1") | fire_ids(client, "latest1")
            statuses = [broker.get_status(i) for i in ids]
            return all(s is not None and s.state is TaskState.SUCCESS for s in statuses) and any(
                instant(i) == last["all1"] for i in ids
            )

        wait_until(all_done, 20, "the worker to run every fire", interval=0.2)
        stats = {q.name: q for q in broker.queue_stats()}["default"]
        assert (stats.ready, stats.delayed, stats.in_flight, stats.dead) == (0, 0, 0, 0)

        # catch_up: all -> every instant from the first to the last, once each, none skipped.
        all_ids = fire_ids(client, "all1")
        first = min(map(instant, all_ids))
        expected = {
            f"all1@{int((first + timedelta(seconds=k)).timestamp() * 1000)}"
            for k in range(int((last["all1"] - first).total_seconds()) + 1)
        }
        assert all_ids == expected
        assert any(down_at <= instant(i) <= up_at for i in all_ids), "the outage was caught up"
        # Run at least once each; more if a run's outcome could not be recorded during the
        # outage (its message then comes back after the lease: at least once).
        assert starts(marks, "all1") >= len(all_ids)

        # catch_up: latest with a 1 s grace -> the outage's fires collapse into one, logged.
        latest_ids = fire_ids(client, "latest1")
        in_outage = [i for i in latest_ids if down_at + timedelta(seconds=1) < instant(i) < up_at]
        assert len(in_outage) <= 1
        assert "entry latest1: skipped" in beat.log()
        assert len(latest_ids) < len(all_ids)
        assert starts(marks, "latest1") >= len(latest_ids)
    finally:
        broker.close()
        client.close()

    assert worker.stop() == 0
    ends = Counter(
        line.split()[1] for line in marks.read_text().splitlines() if line.startswith("end ")
    )
    assert ends["all1"] >= len(all_ids) and ends["latest1"] >= len(latest_ids)
    assert_quiet(beat, "beat")
    # The worker's log during an outage: see test_worker_log_is_quiet_during_an_outage.


def test_worker_log_is_quiet_during_an_outage(
    tmp_path: Path, private_redis: Any, spawn: StartProc
) -> None:
    server: RedisServer = private_redis()
    worker = spawn("worker", "--broker", server.url(), "-A", "fault_tasks", "-c", "1",
                   "--lease", "1500ms", "--shutdown-timeout", "5s")  # fmt: skip
    worker.wait_for_log(" ready: ")
    outage(server)
    broker = RedisBroker(server.url())
    try:
        # It carries on: a task sent after the outage runs.
        marks = tmp_path / "marks"
        from taskqueue.message import Message

        assert broker.enqueue_once(Message(id="after", task="f.mark", args=(str(marks), "a")))
        wait_until(lambda: starts(marks, "a") == 1, 20, "the worker to run a task after")
    finally:
        broker.close()
    assert worker.stop() == 0
    assert_quiet(worker, "worker")


@pytest.mark.slow
def test_two_beats_ride_out_a_redis_restart_without_losing_or_repeating_a_fire(
    tmp_path: Path, private_redis: Any, spawn: StartProc
) -> None:
    """The leader lease lives in Redis too: during the outage neither beat can renew or take
    it; afterwards one leads and catches up. Every instant is sent once, by whichever beat."""
    server: RedisServer = private_redis()
    url = server.url()
    marks = tmp_path / "marks"
    config = tmp_path / "schedules.yaml"
    config.write_text("entries:\n" + marking_entry(marks, "ha1", "all"))
    worker = spawn("worker", "--broker", url, "-A", "fault_tasks", "-c", "2",
                   "--shutdown-timeout", "5s")  # fmt: skip
    beats = [
        spawn("beat", "-s", str(tmp_path / f"beat{i}.db"), "--config", str(config), "--broker", url)
        for i in range(2)
    ]
    worker.wait_for_log(" ready: ")
    for beat in beats:
        beat.wait_for_log("beat started")
    wait_until(lambda: starts(marks, "ha1") >= 2, 10, "the first fires to run")
    down_at, up_at = outage(server)
    time.sleep(8)  # backoff, lease takeover if the old one lapsed, catch-up
    stopped_at = datetime.now(UTC)
    for beat in beats:
        assert beat.stop() == 0, beat.log()

    client: Any = redis.Redis.from_url(url)
    broker = RedisBroker(url)
    try:

        def settled() -> bool:
            stats = {q.name: q for q in broker.queue_stats()}["default"]
            return stats.ready + stats.delayed + stats.in_flight == 0

        wait_until(settled, 20, "the worker to run everything", interval=0.2)
        ids = fire_ids(client, "ha1")
        statuses = [broker.get_status(i) for i in ids]
    finally:
        broker.close()
        client.close()
    assert all(s is not None and s.state is TaskState.SUCCESS for s in statuses)
    instants = sorted(map(instant, ids))
    first, last = instants[0], instants[-1]
    # Contiguous: no instant lost across the outage (each id exists once by construction).
    assert len(instants) == int((last - first).total_seconds()) + 1
    assert first < down_at and last > up_at + timedelta(seconds=2)
    assert last >= stopped_at - timedelta(seconds=3), "dispatch did not resume after the outage"
    assert starts(marks, "ha1") >= len(ids)
    for beat in beats:
        assert_quiet(beat, "beat")
    assert worker.stop() == 0
