"""Fixtures shared by the broker suites that run against both brokers (Redis and SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskqueue.broker import Broker
from taskqueue.sqlite import SQLiteBroker
from taskqueue.urls import open_broker
from tests.taskqueue.sqlite_file import sqlite_url

Open = Callable[[], Broker]


@pytest.fixture(params=["redis", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    return sqlite_url(tmp_path)


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


@pytest.fixture
def sqlite_broker(tmp_path: Path) -> Iterator[SQLiteBroker]:
    """An SQLite broker on the test's queue file (``sqlite_url(tmp_path)``), closed after."""
    opened = SQLiteBroker(sqlite_url(tmp_path))
    yield opened
    opened.close()
