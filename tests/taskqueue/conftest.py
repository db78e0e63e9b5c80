"""Fixtures shared by the broker suites that run against both brokers (Redis and SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskqueue.broker import Broker
from taskqueue.urls import open_broker

Open = Callable[[], Broker]


@pytest.fixture(params=["redis", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path}/queue.db"


@pytest.fixture
def open_(store_url: str) -> Iterator[Open]:
    """Opens another broker on the test's store; all are closed after the test."""
    opened: list[Broker] = []

    def make() -> Broker:
        opened.append(open_broker(store_url))
        return opened[-1]

    yield make
    for b in opened:
        b.close()


@pytest.fixture
def broker(open_: Open) -> Broker:
    return open_()
