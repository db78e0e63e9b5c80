"""Real beat processes on a private Redis server (a shared index can be flushed by another
test session): jitter is the same whichever beat sends a fire (two beats sharing one
Redis and one state file, the leader killed half-way, so fires come from both processes and
from two runs), and a solar entry fires at astral's instant through the daemon."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from astral import Observer
from astral.sun import noon

from taskqueue.message import Message, decode_payload
from tests.daemon.conftest import StartBeat, beat_starter, drained
from tests.faults import procs
from tests.ha.conftest import TTL_S, wait_for_leader

JITTER = timedelta(milliseconds=700)
# A queue of these tests' own: no other test's consumer on a shared Redis index can take it.
QUEUE = "policies-test"


private_redis = procs.private_redis


@pytest.fixture
def redis_url(private_redis: Any) -> str:
    return str(private_redis(persistent=False).url())


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    with beat_starter(tmp_path, "--lease-ttl", f"{TTL_S}s") as start:
        yield start


def _expected_delay(fire_id: str, jitter: timedelta) -> timedelta:
    """The documented rule, restated here: blake2b-64 of the fire id as a fraction of jitter."""
    fraction = int.from_bytes(hashlib.blake2b(fire_id.encode(), digest_size=8).digest(), "big")
    return timedelta(microseconds=(jitter // timedelta(microseconds=1)) * fraction // (1 << 64))


def _drain_messages(url: str) -> list[Message]:
    out: list[Message] = []
    for delivery in drained(url, QUEUE):
        message = decode_payload(delivery.payload)
        assert isinstance(message, Message)
        out.append(message)
    return out


def test_jitter_is_identical_from_either_beat_and_across_runs(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    config = tmp_path / "schedules.yaml"
    lines = ["defaults:", f"  jitter: {JITTER.total_seconds()}s", "entries:"]
    for i in range(5):
        lines += [
            f"  e{i}:",
            "    task: noop",
            f"    queue: {QUEUE}",
            "    every: 1s",
            "    start: 2026-01-01T00:00:00Z",
        ]
    config.write_text("\n".join(lines) + "\n")
    state = tmp_path / "schedule.db"
    beats = [start_beat(config, state, redis_url) for _ in range(2)]
    leader = wait_for_leader(beats)
    leader.wait_for_log("fire e0 for", count=3)
    leader.kill9()
    other = next(b for b in beats if b is not leader)
    other.wait_for_log("leader: acquired lease")
    other.wait_for_log("fire e0 for", count=3)
    other.stop()
    messages = _drain_messages(redis_url)
    ids = {m.id for m in messages}
    assert len(ids) == len(messages) >= 25
    sent_by = [
        {m.id for m in messages if f"fire {m.id.split('@')[0]} for" in b.log()} for b in beats
    ]
    assert all(sent_by), "both beats must have sent fires"
    held = 0
    for message in messages:
        nominal = message.headers.scheduled_for
        assert nominal is not None
        assert message.id == f"{message.headers.entry}@{int(nominal.timestamp() * 1000)}"
        if message.eta is not None:  # a late fire (after the takeover) is sent at once
            assert message.eta == nominal + _expected_delay(message.id, JITTER), message.id
            held += 1
    assert held >= 20


def _longitude_of_noon_at(target: datetime) -> float:
    """The longitude (at the equator) whose solar noon is ``target``, by astral, refined by
    Newton steps on astral's own answer (the sun moves 15 degrees an hour)."""
    lon = ((12 - (target.hour + target.minute / 60 + target.second / 3600)) * 15 + 180) % 360 - 180
    for _ in range(6):
        found = _astral_noon_near(lon, target)
        lon += (found - target).total_seconds() / 3600 * 15  # later than wanted: go east
        lon = (lon + 180) % 360 - 180
    return lon


def _astral_noon_near(lon: float, target: datetime) -> datetime:
    zone = timezone(timedelta(hours=round(lon / 15)))
    day = target.astimezone(zone).date()
    candidates = [noon(Observer(0, lon), day + timedelta(days=d), tzinfo=zone) for d in (-1, 0, 1)]
    return min(candidates, key=lambda t: abs(t - target)).astimezone(UTC)


def test_a_solar_entry_fires_at_astrals_instant(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    target = datetime.now(UTC) + timedelta(seconds=8)
    lon = round(_longitude_of_noon_at(target), 4)
    when = _astral_noon_near(lon, target)
    assert abs(when - target) < timedelta(seconds=2)
    config = tmp_path / "schedules.yaml"
    config.write_text(
        f"entries:\n  sun:\n    task: noop\n    queue: {QUEUE}\n"
        f"    solar: {{event: solar_noon, lat: 0, lon: {lon}}}\n"
    )
    beat = start_beat(config, tmp_path / "schedule.db", redis_url)
    beat.wait_for_log("fire sun for", timeout=30)
    beat.stop()
    messages = _drain_messages(redis_url)
    assert len(messages) == 1, ([(m.id, m.headers) for m in messages], beat.log())
    (message,) = messages
    scheduled = message.headers.scheduled_for
    assert scheduled is not None
    assert abs(scheduled - when) < timedelta(minutes=1)
    assert message.id == f"sun@{int(scheduled.timestamp() * 1000)}"
