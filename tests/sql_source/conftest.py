"""Every SQL source test runs on a SQLite file and on the real PostgreSQL (its own schema)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'entries.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    return postgres_url
