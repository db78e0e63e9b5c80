"""The units' ExecStart lines, expanded as systemd expands them with the example env files,
start a real `beat` and a real `worker` that run and stop cleanly on SIGTERM.

Catches what `systemd-analyze verify` cannot: an option the CLI does not accept, a variable
an env file forgets, a value the worker rejects.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
VENV_BIN = Path(sys.executable).parent


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


def run_until(argv: list[str], tmp_path: Path, needle: str, env: dict[str, str]) -> str:
    """Start ``argv``, wait for ``needle`` on stderr, SIGTERM it, and return its stderr."""
    log_path = tmp_path / f"{Path(argv[0]).name}.log"
    full_env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    full_env.update(env)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            argv, cwd=tmp_path / "state", stdout=log_file, stderr=log_file, env=full_env
        )
        try:
            deadline = time.monotonic() + 30
            while needle not in log_path.read_text(errors="replace"):
                assert proc.poll() is None, f"exited {proc.returncode}: {log_path.read_text()}"
                assert time.monotonic() < deadline, f"no {needle!r}: {log_path.read_text()}"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log_path.read_text(errors="replace")
    assert code == 0, text
    return text


@pytest.mark.slow
def test_beat_service_command_line_runs(tmp_path: Path) -> None:
    write_config(tmp_path)
    unit = UNIT_DIR / "beat.service"
    env = {**unit_environment(unit, ""), **read_env_file(UNIT_DIR / "beat.env")}
    (line,) = unit_values(unit, "ExecStart")
    argv = localise(expand_exec(line, env), tmp_path)
    assert argv[1:3] == ["-s", str(tmp_path / "state" / "schedule.db")]
    log = run_until(argv, tmp_path, "fire tick", env)
    assert (tmp_path / "state" / "schedule.db").exists()
    assert "beat stopped" in log


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["default", "reports"])
def test_worker_service_command_line_runs(tmp_path: Path, profile: str) -> None:
    write_config(tmp_path)
    unit = UNIT_DIR / "worker@.service"
    env = {
        **unit_environment(unit, profile),
        **read_env_file(UNIT_DIR / f"worker-{profile}.env"),
    }
    (line,) = unit_values(unit, "ExecStart")
    argv = localise(expand_exec(line, env, profile), tmp_path)
    assert argv[argv.index("-Q") + 1] == profile
    log = run_until(argv, tmp_path, "ready", env)
    assert f"queues {profile}" in log
