"""LeaderElector on real Redis: one leader at a time, hand-over, local expiry, outages."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from beat.leader import LOCAL_SHARE, LeaderElector
from taskqueue.broker import Broker
from taskqueue.redis import RedisBroker

TTL = timedelta(milliseconds=600)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def electors(redis_url: str) -> Iterator[list[LeaderElector]]:
    made: list[LeaderElector] = []
    yield made
    for e in made:
        e.stop()


def make(redis_url: str, made: list[LeaderElector], owner: str, **kwargs: object) -> LeaderElector:
    def factory() -> Broker:
        return RedisBroker(redis_url)

    elector = LeaderElector(factory, owner=owner, ttl=TTL, **kwargs)  # type: ignore[arg-type]
    made.append(elector)
    return elector


def wait_until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.005)
    raise AssertionError("condition not met in time")


def test_one_leader_and_handover_on_release(redis_url: str, electors: list[LeaderElector]) -> None:
    changes: list[str] = []
    a = make(redis_url, electors, "a", on_change=lambda: changes.append("a"))
    b = make(redis_url, electors, "b", on_change=lambda: changes.append("b"))
    a.start()
    wait_until(lambda: a.is_leader)
    b.start()
    time.sleep(3 * TTL.total_seconds())  # several renewals: a keeps it, b stays standby
    assert a.is_leader and not b.is_leader
    assert b.token is None and b.fence is None
    first = a.token
    assert first is not None and a.fence == ("beat", first)
    started = time.monotonic()
    a.stop(release=True)
    wait_until(lambda: b.is_leader)
    # A released lease is taken at the standby's next try (a third of the ttl), not at expiry.
    assert time.monotonic() - started < TTL.total_seconds() / 2
    assert b.token is not None and b.token > first
    assert changes == ["a", "b"]


def test_standby_takes_an_abandoned_lease_within_the_ttl(
    redis_url: str, electors: list[LeaderElector]
) -> None:
    a = make(redis_url, electors, "a")
    b = make(redis_url, electors, "b")
    a.step()
    assert a.is_leader
    b.start()
    time.sleep(0.05)
    abandoned = time.monotonic()  # a never renews again (as if killed)
    wait_until(lambda: b.is_leader)
    took = time.monotonic() - abandoned
    assert took <= TTL.total_seconds() + 0.1, took


def test_is_leader_ends_locally_before_the_lease(redis_url: str) -> None:
    clock = FakeMonotonic()
    elector = LeaderElector(lambda: RedisBroker(redis_url), owner="a", ttl=TTL, monotonic=clock)
    try:
        elector.step()
        assert elector.is_leader
        # No renewal ran (the thread is stuck): leadership ends at LOCAL_SHARE of the ttl,
        # while the broker still holds the lease for this owner.
        clock.now += LOCAL_SHARE * TTL.total_seconds()
        assert not elector.is_leader and elector.token is None
        assert "renewed in time" in (elector.lost_reason or "")
        # A renewal that then succeeds (same tenure, same token) restores it.
        elector.step()
        assert elector.is_leader
    finally:
        elector.stop()


def test_relinquish_then_reacquire_gets_a_new_token(
    redis_url: str, electors: list[LeaderElector]
) -> None:
    a = make(redis_url, electors, "a")
    a.step()
    first = a.token
    assert first is not None
    a.relinquish("fenced")
    assert not a.is_leader and a.lost_reason == "fenced"
    # Still the lease's owner in the broker, so it takes it back as the same tenure...
    a.step()
    assert a.token == first
    # ...but a lease lost in the broker comes back with a larger token.
    broker = RedisBroker(redis_url)
    broker.release_lease("beat", "a", first)
    broker.close()
    a.step()  # renewal refused: lost
    assert not a.is_leader
    a.step()
    assert a.token is not None and a.token > first


def test_unreachable_broker_is_one_log_line_and_no_leader(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    elector = LeaderElector(
        lambda: RedisBroker(url, socket_timeout=timedelta(milliseconds=100)), owner="a", ttl=TTL
    )
    with caplog.at_level(logging.WARNING, logger="beat.leader"):
        for _ in range(5):
            elector.step()  # never raises
    elector.stop()
    assert not elector.is_leader
    lines = [r for r in caplog.records if "broker error" in r.getMessage()]
    assert len(lines) == 1, caplog.text


def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        LeaderElector(lambda: RedisBroker("redis://127.0.0.1:1/0"), ttl=timedelta(0))
