"""The units' ExecStart lines, expanded as systemd expands them with the example env files,
start a real `beat` and a real `worker` that notify READY and WATCHDOG on a real socket,
serve metrics, do their work, and stop cleanly (STOPPING, exit 0) on SIGTERM.

Catches what `systemd-analyze verify` cannot: an option the CLI does not accept, a variable
an env file forgets, a value the worker rejects.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskqueue.message import Message
from taskqueue.urls import open_broker

UNIT_DIR = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
VENV_BIN = Path(sys.executable).parent
# A short watchdog so the test sees several pings (the units say 30 s).
WATCHDOG_USEC = 600_000


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def unit_values(path: Path, key: str) -> list[str]:
    prefix = key + "="
    return [
        line[len(prefix) :] for line in path.read_text().splitlines() if line.startswith(prefix)
    ]


def unit_environment(path: Path, instance: str) -> dict[str, str]:
    """The unit's own Environment= assignments (``%i`` resolved)."""
    env: dict[str, str] = {}
    for value in unit_values(path, "Environment"):
        for assignment in shlex.split(value.replace("%i", instance)):
            key, _, val = assignment.partition("=")
            env[key] = val
    return env


def expand_exec(line: str, env: dict[str, str], instance: str = "") -> list[str]:
    """systemd.service(5) rules: ``${VAR}`` is one word; a bare-word ``$VAR`` splits on spaces."""
    argv: list[str] = []
    for word in shlex.split(line.replace("%i", instance)):
        bare = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if bare:
            argv.extend(env.get(bare.group(1), "").split())
        else:
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], word))
    return argv


def localise(argv: list[str], tmp_path: Path) -> list[str]:
    """Installed paths -> this checkout: the venv's scripts, a config and state dir in tmp."""
    out = []
    for arg in argv:
        arg = arg.replace("/opt/beat/venv/bin", str(VENV_BIN))
        arg = arg.replace("/etc/beat/schedules.yaml", str(tmp_path / "schedules.yaml"))
        out.append(arg.replace("/var/lib/beat", str(tmp_path / "state")))
    # The example env files pin metrics ports; tests running in parallel take any free one.
    for i, arg in enumerate(out[:-1]):
        if arg == "--metrics-port":
            out[i + 1] = "0"
    return out


def write_config(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "schedules.yaml").write_text(
        f"broker: sqlite:///{tmp_path / 'state' / 'queue.db'}\n"
        "entries:\n"
        "  tick:\n"
        "    task: log\n"
        "    every: 1s\n"
        "    queue: default\n"
        "    kwargs: {message: unit-test}\n"
    )


class Service:
    """A daemon started from a unit's command line, with the environment systemd would give it:
    ``$NOTIFY_SOCKET`` (a datagram socket we read), ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``."""

    def __init__(self, argv: list[str], tmp_path: Path, env: dict[str, str]) -> None:
        self.log_path = tmp_path / f"{Path(argv[0]).name}.log"
        self._dir = tempfile.mkdtemp(prefix="unit-", dir="/tmp")  # socket paths are short
        self.notify_path = os.path.join(self._dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.notify_path)
        full_env = {
            k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")
        }
        full_env.update(env, NOTIFY_SOCKET=self.notify_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        self._log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=tmp_path / "state",
            stdout=self._log_file,
            stderr=self._log_file,
            env=full_env,
        )
        self.notifications: list[str] = []

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = re.search(pattern, self.log())
            if found:
                return found
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.log()}"
            assert time.monotonic() < deadline, f"no {pattern!r} in: {self.log()}"
            time.sleep(0.1)

    def receive(self, quiet_s: float = 0.5) -> list[str]:
        """Every notification until none arrives for ``quiet_s``."""
        self.sock.settimeout(quiet_s)
        while True:
            try:
                self.notifications.extend(self.sock.recv(4096).decode().split("\n"))
            except TimeoutError:
                return self.notifications

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        url = self.wait_for(r"metrics at (http://\S+/metrics)").group(1)
        assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.log()}"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def stop(self) -> int:
        """SIGTERM, as systemctl stop sends it to the main process (KillMode=mixed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def close(self) -> None:
        if self._log_file.closed:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log_file.close()
        self.sock.close()
        os.unlink(self.notify_path)
        os.rmdir(self._dir)


def stop_after_two_pings(svc: Service) -> None:
    """Let the service ping the watchdog twice, stop it, and check its whole notify lifecycle."""
    time.sleep(2 * WATCHDOG_USEC / 1e6)
    code = svc.stop()
    notifications = svc.receive()
    assert code == 0, svc.log()
    assert notifications[0] == "READY=1"
    assert notifications.count("WATCHDOG=1") >= 2
    assert "STOPPING=1" in notifications


@contextlib.contextmanager
def service(argv: list[str], tmp_path: Path, env: dict[str, str]) -> Iterator[Service]:
    running = Service(argv, tmp_path, env)
    try:
        yield running
    finally:
        running.close()


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.mark.slow
def test_beat_service_command_line_runs_as_a_notify_service(tmp_path: Path) -> None:
    write_config(tmp_path)
    unit = UNIT_DIR / "beat.service"
    env = {**unit_environment(unit, ""), **read_env_file(UNIT_DIR / "beat.env")}
    (line,) = unit_values(unit, "ExecStart")
    argv = localise(expand_exec(line, env), tmp_path)
    assert argv[1:3] == ["-s", str(tmp_path / "state" / "schedule.db")]
    with service(argv, tmp_path, env) as beat:
        beat.wait_for(r"fire tick")
        samples = beat.scrape()
        assert sample(samples, "beat_fires_total", outcome="sent") >= 1
        assert sample(samples, "beat_entries", state="enabled") == 1
        stop_after_two_pings(beat)
    assert (tmp_path / "state" / "schedule.db").exists()
    assert "beat stopped" in beat.log()


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["default", "reports"])
def test_worker_service_command_line_runs_as_a_notify_service(tmp_path: Path, profile: str) -> None:
    write_config(tmp_path)
    broker = open_broker(f"sqlite:///{tmp_path / 'state' / 'queue.db'}")
    try:
        broker.enqueue_once(Message(id="m-1", task="log", queue=profile, kwargs={"message": "x"}))
    finally:
        broker.close()
    unit = UNIT_DIR / "worker@.service"
    env = {
        **unit_environment(unit, profile),
        **read_env_file(UNIT_DIR / f"worker-{profile}.env"),
    }
    (line,) = unit_values(unit, "ExecStart")
    argv = localise(expand_exec(line, env, profile), tmp_path)
    assert argv[argv.index("-Q") + 1] == profile
    with service(argv, tmp_path, env) as worker:
        worker.wait_for(rf"queues {profile}")
        deadline = time.monotonic() + 30
        while True:
            samples = worker.scrape()
            done = samples.get(
                ("worker_tasks_total", frozenset({"task": "log", "state": "SUCCESS"}.items()))
            )
            if done == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done == 1, worker.log()
        assert sample(samples, "worker_queue_depth", queue=profile, kind="ready") == 0
        stop_after_two_pings(worker)


@pytest.mark.slow
def test_beat_json_logs_one_line_per_fire_with_ids_and_timings(tmp_path: Path) -> None:
    write_config(tmp_path)
    unit = UNIT_DIR / "beat.service"
    env = {**unit_environment(unit, ""), "BEAT_ARGS": "--log-format json"}
    (line,) = unit_values(unit, "ExecStart")
    with service(localise(expand_exec(line, env), tmp_path), tmp_path, env) as beat:
        beat.wait_for(r'"fire_id"')
        assert beat.stop() == 0
    records = [json.loads(text) for text in beat.log().splitlines()]  # every line is JSON
    fires = [r for r in records if r.get("fire_id")]
    assert fires, records
    fire = fires[0]
    assert fire["entry"] == "tick"
    assert fire["fire_id"].startswith("tick@")
    assert isinstance(fire["lateness_ms"], float)
    assert fire["logger"].startswith("beat.") and fire["level"] == "INFO"
