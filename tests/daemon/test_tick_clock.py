"""A tick whose first round takes long (a large burst, a slow Redis) judges its later rounds
against the clock as it is then, not as it was when the tick began: a fire that became later
than its grace during the long round is a missed fire, not one pushed ahead of time.

In-process beat, real Redis and SQLite, an injected clock that the broker moves forward while
the first round is pushed (what a 20 s push does to the real clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.service import BeatService
from taskqueue.records import EncodedMessage
from taskqueue.redis import RedisBroker
from tests.daemon.conftest import drain_url
from tests.fake_clock import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class SlowBroker(RedisBroker):
    """Its first enqueue takes ``took`` of the injected clock."""

    def __init__(self, url: str, clock: FakeClock, took: timedelta) -> None:
        super().__init__(url)
        self.clock = clock
        self.took = took
        self.calls = 0

    def enqueue_encoded(self, items: Sequence[EncodedMessage], **kw: object) -> list[bool]:
        self.calls += 1
        if self.calls == 1:
            self.clock.now += self.took
        return super().enqueue_encoded(items, **kw)  # type: ignore[arg-type]


def test_a_round_after_a_long_one_judges_lateness_by_the_clock_of_then(
    tmp_path: Path, redis_url: str
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "entries:\n"
        "  fast:\n"
        "    task: noop\n"
        "    every: 500ms\n"
        f"    start: {T0.isoformat()}\n"
        "    catch_up: none\n"
        "    grace: 1s\n"
    )
    clock = FakeClock(T0 + timedelta(milliseconds=10))
    broker = SlowBroker(redis_url, clock, took=timedelta(seconds=10))
    beat = BeatService(
        load_config(config), str(tmp_path / "s.db"), broker=broker, clock=clock,
        lookahead=timedelta(seconds=1), lease_ttl=timedelta(minutes=5),
    )  # fmt: skip
    beat.start()
    try:
        beat.tick()
    finally:
        beat.close()
    seen = drain_url(redis_url)
    ms = sorted(int(i.rsplit("@", 1)[1]) - int(T0.timestamp() * 1000) for i in seen)
    # The first round pushed the 500 ms fire at 00:00:00.010 and took 10 s. By then the fires up
    # to 9.0 s are more than 1 s late: `catch_up: none` skips them. 9.5 s (510 ms late, within
    # its grace) and the fires within the lookahead of 00:00:10.010 are pushed.
    assert ms[0] == 500
    assert not [m for m in ms if 1000 <= m <= 9000], ms
    assert [m for m in ms if m >= 9500] == [9500, 10000, 10500, 11000], ms
