"""The beat daemon, as a real process on real Redis: every fire enqueued exactly once.

Entries use `every` with a fixed `start`, so fire instants are whole seconds and the expected
set of fire ids can be computed from the run state afterwards.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beat.state import StateStore
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import StartBeat, drain_ids, drain_url, load_states, write_config


def expected_ids(name: str, first: datetime, last: datetime, every_s: int = 1) -> set[str]:
    """Fire ids of entry `name` for every whole-`every_s` instant in [first, last]."""
    out = set()
    t = first
    while t <= last:
        out.add(f"{name}@{int(t.timestamp() * 1000)}")
        t += timedelta(seconds=every_s)
    return out


def ms_to_dt(fire: str) -> datetime:
    return datetime.fromtimestamp(int(fire.rsplit("@", 1)[1]) / 1000, UTC)


def test_every_second_gives_exactly_the_expected_messages(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    n = 50
    config = write_config(tmp_path / "schedules.yaml", n)
    state = tmp_path / "schedule.db"
    beat = start_beat(config, state, redis_url)
    beat.wait_for_log("beat started")
    time.sleep(4.2)
    assert beat.stop() == 0, beat.log()

    states = load_states(state)
    seen = drain_url(redis_url)
    assert seen, beat.log()
    assert max(seen.values()) == 1
    for i in range(n):
        st = states[f"e{i}"]
        assert st.last_fire is not None
        ids = {k for k in seen if k.startswith(f"e{i}@")}
        first = min(ms_to_dt(k) for k in ids)
        # a new entry never fires immediately: its first fire is after it was first seen
        assert first > st.first_seen
        assert first - st.first_seen <= timedelta(seconds=1)
        assert ids == expected_ids(f"e{i}", first, st.last_fire)
        assert len(ids) >= 3


@pytest.mark.slow
def test_kill9_mid_burst_then_restart_catch_up_all_exactly_once(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    n = 30_000
    # Far enough ahead for the beat to load 30,000 entries first (a new entry never fires
    # for an instant before it was first seen).
    due = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    lines = ["defaults:", "  catch_up: all", "  grace: 1s", "entries:"]
    for i in range(n):
        lines += [f"  o{i}:", "    task: noop", f"    at: {due.isoformat()}"]
    config = tmp_path / "schedules.yaml"
    config.write_text("\n".join(lines) + "\n")
    state = tmp_path / "schedule.db"
    broker = RedisBroker(redis_url)

    beat = start_beat(config, state, redis_url)
    beat.wait_for_log("beat started", timeout=60)
    # Kill it while the burst is partly in Redis.
    deadline = time.monotonic() + 30
    ready = 0
    while time.monotonic() < deadline:
        ready = sum(s.ready + s.delayed for s in broker.queue_stats())
        if ready > 0:
            break
        time.sleep(0.002)
    beat.kill9()
    partial = sum(s.ready + s.delayed for s in broker.queue_stats())
    print(f"killed with {partial} of {n} fires in Redis")
    assert 0 < ready <= partial <= n

    time.sleep(2)  # past the 1s grace: the remaining fires are now "missed"
    beat2 = start_beat(config, state, redis_url)
    beat2.wait_for_log("beat started", timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if sum(s.ready + s.delayed for s in broker.queue_stats()) >= n:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    assert beat2.stop() == 0
    seen = drain_ids(broker)
    broker.close()
    assert len(seen) == n, f"partial={partial}\n{beat2.log()[-2000:]}"
    assert max(seen.values()) == 1
    assert set(seen) == {f"o{i}@{int(due.timestamp() * 1000)}" for i in range(n)}


def test_two_beats_on_one_redis_never_duplicate(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    n = 30
    config = write_config(tmp_path / "schedules.yaml", n)
    a = start_beat(config, tmp_path / "a.db", redis_url)
    b = start_beat(config, tmp_path / "b.db", redis_url)
    a.wait_for_log("beat started")
    b.wait_for_log("beat started")
    time.sleep(3.5)
    assert a.stop() == 0 and b.stop() == 0
    stores = [StateStore(str(tmp_path / f"{x}.db")) for x in "ab"]
    states = [s.load() for s in stores]
    for s in stores:
        s.close()
    seen = drain_url(redis_url)
    assert max(seen.values()) == 1
    for i in range(n):
        name = f"e{i}"
        ids = {k for k in seen if k.startswith(f"{name}@")}
        first = min(ms_to_dt(k) for k in ids)
        last = max(st[name].last_fire for st in states if st[name].last_fire)  # type: ignore[type-var]
        assert ids == expected_ids(name, first, last)
    # One beat leads and dispatches; the other stands by and sends nothing (the leader lease),
    # so no copy even reaches the broker to be refused.
    logs = [a.log(), b.log()]
    leaders = [log for log in logs if "leader: acquired lease" in log]
    assert len(leaders) == 1, logs
    assert sum("INFO beat.dispatch: fire " in log for log in logs) == 1
    assert not any("already enqueued" in log for log in logs)
