"""Shared fixtures: real Redis, real PostgreSQL, temporary SQLite files.

A missing service skips its tests on a developer's machine and fails them when ``CI`` is set,
so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_URL = os.environ.get("BEAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
POSTGRES_URL = os.environ.get(
    "BEAT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The parsed-configuration cache (beat.cache) of every command a test runs, in process or
    in a subprocess, lives in a directory of this session, not in the user's ~/.cache."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


def _missing(service: str, error: Exception) -> None:
    message = f"{service} is not reachable: {error}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A dedicated Redis database index, flushed before and after each test.

    Tests running in parallel (pytest-xdist) each get their own database index: the index in
    ``BEAT_TEST_REDIS_URL`` plus the xdist worker number (13 and 14 under ``pytest -n 2``).
    """
    import redis

    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    base, first = REDIS_URL.rsplit("/", 1)
    url = f"{base}/{int(first) + worker}"
    client: Any = redis.Redis.from_url(url)
    try:
        client.flushdb()
    except redis.RedisError as e:
        _missing("Redis", e)
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards; the URL selects it."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as e:  # any driver error means the service is unusable here
        engine.dispose()
        _missing("PostgreSQL", e)
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
