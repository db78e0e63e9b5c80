"""Run real `beat` daemons as subprocesses and inspect what reached the broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class BeatProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def wait_for_log(self, needle: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"beat exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} not logged within {timeout}s:\n{self.log()[-3000:]}")


StartBeat = Callable[..., BeatProcess]


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    procs: list[BeatProcess] = []

    def start(config: Path, state: Path, broker_url: str, *extra: str) -> BeatProcess:
        log_path = tmp_path / f"beat-{len(procs)}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "beat", "-s", str(state), "--config", str(config),
                 "--broker", broker_url, *extra],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )  # fmt: skip
        beat = BeatProcess(proc, log_path)
        procs.append(beat)
        return beat

    yield start
    for beat in procs:
        if beat.proc.poll() is None:
            beat.proc.kill()
            beat.proc.wait(10)
