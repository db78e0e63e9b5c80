"""Real beat processes (lease time 1 s, no lookahead) and the ``beat`` CLI as a subprocess, for
the entry policies: pause, history, backfill, overlap."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.conftest import StartBeat, beat_starter


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    with beat_starter(tmp_path, "--lease-ttl", "1s", "--lookahead", "0") as start:
        yield start


def beat_cli(config: Path, state: Path, *args: str) -> str:
    """Run ``beat ARGS`` in its own process; its stdout (a failure shows its stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "beat", "-s", str(state), *args[:1], "--config", str(config),
         *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def beat_json(config: Path, state: Path, *args: str) -> Any:
    return json.loads(beat_cli(config, state, *args, "--json"))
