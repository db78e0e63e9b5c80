"""A burst too large to push within the lookahead is pushed earlier (beat.early_push), waits in
the delayed set, and is made claimable at its instant; what happens to it between its push and
its instant is what the lookahead does (pause revokes, a restart neither repeats nor loses).

In-process beat, the real clock (the broker's delays are real), real Redis and SQLite. The push
rate the beat assumes is lowered (to 100 fires/s) so that 300 fires make a "large" burst: its
lead is 300 / 100 * 2 = 6 s, against a 1 s lookahead.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.service import BeatService
from taskqueue.records import TaskState
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_url, load_states
from tests.fake_clock import FakeClock

N = 300
RATE = 100.0
LOOKAHEAD = timedelta(seconds=1)
# The instant, from the start: after the early push's start (6 s before the instant) and
# before the lookahead's (1 s before).
AHEAD = timedelta(seconds=4)


def _config(tmp_path: Path, due: datetime) -> Path:
    config = tmp_path / "schedules.yaml"
    lines = [f"  b{i}: {{task: noop, at: {due.isoformat()}}}\n" for i in range(N)]
    config.write_text("entries:\n" + "".join(lines))
    return config


def _beat(tmp_path: Path, config: Path, broker: RedisBroker, rate: float) -> BeatService:
    beat = BeatService(
        load_config(config), str(tmp_path / "s.db"), broker=broker, lookahead=LOOKAHEAD,
        lease_ttl=timedelta(minutes=1),  # no elector thread renews it: tick() is called here
    )  # fmt: skip
    beat.early.rate = rate
    beat.start()
    return beat


def _stats(broker: RedisBroker) -> tuple[int, int]:
    """(ready, delayed) of the default queue."""
    found = [(s.ready, s.delayed) for s in broker.queue_stats() if s.name == "default"]
    return found[0] if found else (0, 0)


def _sleep_until(when: datetime) -> None:
    time.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


def _ids(due: datetime, skip: str = "") -> dict[str, int]:
    ms = int(due.timestamp() * 1000)
    return {f"b{i}@{ms}": 1 for i in range(N) if f"b{i}" != skip}


def _burst(tmp_path: Path, redis_url: str, rate: float = RATE) -> tuple[BeatService, datetime]:
    due = (datetime.now(UTC) + AHEAD + timedelta(seconds=1)).replace(microsecond=0)
    beat = _beat(tmp_path, _config(tmp_path, due), RedisBroker(redis_url), rate)
    _sleep_until(due - AHEAD)
    return beat, due


def test_a_large_burst_is_pushed_before_the_lookahead_and_promoted_at_its_instant(
    tmp_path: Path, redis_url: str
) -> None:
    beat, due = _burst(tmp_path, redis_url)
    try:
        assert beat.tick() == N  # 4 s ahead: past its 6 s lead, before the 1 s lookahead
        assert datetime.now(UTC) < due - LOOKAHEAD, "the machine was too slow for this test"
        assert _stats(beat.broker) == (0, N)  # all delayed, none claimable yet
        # Recorded as sent once pushed, as any fire pushed ahead: a restart does not repeat it.
        states = load_states(tmp_path / "s.db")
        assert {s.last_fire for s in states.values()} == {due}
        assert beat.tick() == 0
        _sleep_until(due + timedelta(milliseconds=200))
        beat.tick()  # promotes what it pushed for this instant (the promoter thread's job)
        assert _stats(beat.broker) == (N, 0)
    finally:
        beat.close()
    assert drain_url(redis_url) == _ids(due)


def test_a_burst_that_fits_the_lookahead_waits_for_it(tmp_path: Path, redis_url: str) -> None:
    beat, due = _burst(tmp_path, redis_url, rate=100_000.0)  # lead: 6 ms, so the lookahead's 1 s
    try:
        assert beat.tick() == 0
        assert _stats(beat.broker) == (0, 0)
        _sleep_until(due - LOOKAHEAD + timedelta(milliseconds=10))
        assert beat.tick() == N
    finally:
        beat.close()


def test_pausing_revokes_a_fire_pushed_early(tmp_path: Path, redis_url: str) -> None:
    beat, due = _burst(tmp_path, redis_url)
    try:
        assert beat.tick() == N
        beat.store.set_pause("b7", True, "disk full", datetime.now(UTC))
        beat.tick()  # follows the pause: revokes b7's fire, still waiting for its instant
        status = beat.broker.get_status(f"b7@{int(due.timestamp() * 1000)}")
        assert status is not None and status.state is TaskState.REVOKED
    finally:
        beat.close()
    assert drain_url(redis_url) == _ids(due, skip="b7")


def test_a_restart_between_early_push_and_instant_neither_repeats_nor_loses(
    tmp_path: Path, redis_url: str
) -> None:
    beat, due = _burst(tmp_path, redis_url)
    config = tmp_path / "schedules.yaml"
    try:
        assert beat.tick() == N
    finally:
        beat.close()
    again = _beat(tmp_path, config, RedisBroker(redis_url), RATE)
    try:
        _sleep_until(due + timedelta(milliseconds=200))
        assert again.tick() == 0  # the state says they were sent
    finally:
        again.close()
    assert drain_url(redis_url) == _ids(due)  # a claim promotes them: each once


def test_at_the_defaults_a_burst_starts_its_push_ahead_of_a_short_lookahead(
    tmp_path: Path, redis_url: str
) -> None:
    """No tuning: the assumed rate. 20,000 fires take 0.5 s (at 80,000/s, doubled), so with a
    100 ms lookahead they start 0.5 s ahead; before, 100 ms ahead."""
    n = 20_000
    due = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    config = tmp_path / "schedules.yaml"
    lines = [f"  d{i}: {{task: noop, at: {due.isoformat()}}}\n" for i in range(n)]
    config.write_text("entries:\n" + "".join(lines))
    clock = FakeClock(due - timedelta(seconds=30))
    beat = BeatService(
        load_config(config), str(tmp_path / "s.db"), broker=RedisBroker(redis_url),
        clock=clock, lookahead=timedelta(milliseconds=100),
    )  # fmt: skip
    beat.start()
    try:
        clock.now = due - timedelta(milliseconds=510)
        assert beat.tick() == 0
        clock.now = due - timedelta(milliseconds=490)
        assert beat.tick() == n
    finally:
        beat.close()


def test_a_gated_fire_in_a_burst_pushed_early_is_still_decided_at_its_instant(
    tmp_path: Path, redis_url: str
) -> None:
    """Half the burst has ``overlap: skip``: pushed early, their previous fire (never claimed)
    is still queued, so they are held to their instant and skipped there; the other half is
    pushed early as usual."""
    start = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    every = timedelta(seconds=7)
    config = tmp_path / "schedules.yaml"
    lines = [
        f"  b{i}: {{task: noop, every: 7s, start: {start.isoformat()}"
        + (", overlap: skip}\n" if i % 2 else "}\n")
        for i in range(N)
    ]
    config.write_text("entries:\n" + "".join(lines))
    beat = _beat(tmp_path, config, RedisBroker(redis_url), RATE)
    second = start + every
    try:
        assert beat.tick() == N  # the first fires: nothing before them, none is held
        _sleep_until(second - AHEAD)
        assert beat.tick() == N // 2  # early: the allow half; the skip half waits
        assert datetime.now(UTC) < second - LOOKAHEAD, "the machine was too slow for this test"
        _sleep_until(second + timedelta(milliseconds=200))
        assert beat.tick() == 0  # decided at the instant: their previous fire is queued
    finally:
        beat.close()
    ms = [int(start.timestamp() * 1000), int(second.timestamp() * 1000)]
    expected = {f"b{i}@{ms[0]}": 1 for i in range(N)}
    expected |= {f"b{i}@{ms[1]}": 1 for i in range(0, N, 2)}
    assert drain_url(redis_url) == expected


def test_a_late_entry_popped_with_an_early_burst_is_judged_at_now(
    tmp_path: Path, redis_url: str
) -> None:
    """An entry whose fires are late (the loop was busy) is popped in the same round as a
    burst pushed early; its missed and on-time fires are judged against now (SPEC 6: on time
    if ``now - f <= grace``), not against the burst's instant nor now + lookahead (either
    would call on-time fires missed). Its fires within the lookahead follow as usual."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    burst = t0 + timedelta(seconds=30)
    config = tmp_path / "schedules.yaml"
    lines = [f"  b{i}: {{task: noop, at: {burst.isoformat()}}}\n" for i in range(N)]
    lines.append(
        f"  late: {{task: noop, every: 1s, grace: 5s, catch_up: none, start: {t0.isoformat()}}}\n"
    )
    config.write_text("entries:\n" + "".join(lines))
    clock = FakeClock(t0 + timedelta(milliseconds=1))
    beat = BeatService(
        load_config(config), str(tmp_path / "s.db"), broker=RedisBroker(redis_url),
        clock=clock, lookahead=LOOKAHEAD,
    )  # fmt: skip
    beat.early.rate = RATE  # the burst's lead: 6 s
    beat.start()
    try:
        clock.now = t0 + timedelta(seconds=25)  # late's fires from t0 + 1 s are pending
        assert beat.tick() == N + 7
    finally:
        beat.close()
    # Judged at now, t0 + 25 s, with 5 s of grace: t0 + 20 s .. t0 + 25 s are on time, and
    # t0 + 26 s is within the 1 s lookahead. Against now + lookahead, t0 + 20 s (5 s late, within
    # its grace) was skipped; against the burst's instant, t0 + 20 s .. t0 + 24 s were.
    sent = {int(t0.timestamp() * 1000) + 1000 * s for s in range(20, 27)}
    assert {k for k in drain_url(redis_url) if k.startswith("late@")} == {
        f"late@{ms}" for ms in sent
    }
