"""The shipped systemd units pass `systemd-analyze verify`, are hardened, and say what SPEC 9 asks.

`systemd-analyze verify` reports most mistakes (an unknown key, a bad value) as a warning and
still exits 0, so a unit counts as verified only when the exit status is 0 AND nothing was
printed. It also requires ExecStart's binary to exist, so the units are copied to a temporary
directory with /opt/beat/venv/bin/ pointed at this virtualenv's bin directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from worker.consumer import DEFAULT_SHUTDOWN_TIMEOUT

UNIT_DIR = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
UNITS = ("beat.service", "worker@.service", "beat-workers.target", "beat-web.service")
INSTALLED_BIN = "/opt/beat/venv/bin/"
VENV_BIN = str(Path(sys.executable).parent) + "/"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def _require_systemd_analyze() -> None:
    if not Path(SYSTEMD_ANALYZE).exists():
        message = "systemd-analyze is not installed"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def staged(tmp_path: Path, name: str, text: str | None = None) -> Path:
    """Copy unit ``name`` to tmp_path (or write ``text`` under that name) with ExecStart local."""
    body = (UNIT_DIR / name).read_text() if text is None else text
    target = tmp_path / name
    target.write_text(body.replace(INSTALLED_BIN, VENV_BIN))
    return target


def verify(*units: Path) -> list[str]:
    """Every problem `systemd-analyze verify` reports for ``units`` (empty: all good)."""
    _require_systemd_analyze()
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=units[0].parent,
    )
    problems = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    if proc.returncode != 0 and not problems:
        problems.append(f"systemd-analyze verify exited with status {proc.returncode}")
    return problems


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> values (systemd allows a key several times)."""
    sections: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        sections[section][key.strip()].append(value.strip())
    return sections


def seconds(value: str) -> float:
    """A systemd time span as seconds ("45", "45s", "1min 30s")."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


# --- systemd-analyze verify --------------------------------------------------------------


@pytest.mark.parametrize("name", UNITS)
def test_shipped_unit_verifies_clean(tmp_path: Path, name: str) -> None:
    staged(tmp_path, "beat-workers.target")
    assert verify(staged(tmp_path, name)) == []


def test_worker_instance_and_target_verify_together(tmp_path: Path) -> None:
    template = (UNIT_DIR / "worker@.service").read_text()
    staged(tmp_path, "worker@.service")
    instance = staged(tmp_path, "worker@reports.service", template)
    assert verify(instance, staged(tmp_path, "beat-workers.target")) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("KillMode=mixed", "KillMode=mixd"), "kill mode"),
        (("Type=notify", "Type=notfy"), "service type"),
        (("WatchdogSec=30", "WatchdogSecs=30"), "Unknown key"),
        (("ExecStart=" + INSTALLED_BIN + "beat", "ExecStart=/nonexistent/beat"), "not executable"),
    ],
)
def test_verify_reports_a_broken_unit(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    old, new = change
    text = (UNIT_DIR / "beat.service").read_text()
    assert old in text
    broken = staged(tmp_path, "beat.service", text.replace(old, new))
    problems = verify(broken)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("name", ["beat.service", "worker@.service", "beat-web.service"])
def test_hardening_exposure_is_low(tmp_path: Path, name: str) -> None:
    _require_systemd_analyze()
    unit = staged(tmp_path, name)
    if name.startswith("worker@"):
        unit = staged(tmp_path, "worker@default.service", unit.read_text())
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--threshold=25", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    # --threshold=25 means exposure 2.5 (of 10): systemd rates below 3 "OK".
    assert proc.returncode == 0, proc.stdout + proc.stderr
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert level is not None and float(level.group(1)) <= 2.5, proc.stdout[-400:]


# --- what the units say (SPEC 9) ----------------------------------------------------------


@pytest.mark.parametrize("name", ["beat.service", "worker@.service"])
def test_service_settings(name: str) -> None:
    service = parse_unit(UNIT_DIR / name)["Service"]
    expected = {
        "Type": "notify",
        "NotifyAccess": "main",
        "KillMode": "mixed",
        "Restart": "always",
        "RestartSec": "2",
        "StateDirectory": "beat",
        "RuntimeDirectory": "beat",
        "User": "beat",
        "Group": "beat",
        "UMask": "0077",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }
    for key, value in expected.items():
        assert service[key] == [value], (name, key)
    assert seconds(service["WatchdogSec"][0]) == 30
    # systemd must not SIGKILL a worker that is still inside its shutdown timeout.
    assert seconds(service["TimeoutStopSec"][0]) > DEFAULT_SHUTDOWN_TIMEOUT.total_seconds()


def test_beat_exec_start() -> None:
    (exec_start,) = parse_unit(UNIT_DIR / "beat.service")["Service"]["ExecStart"]
    assert exec_start.startswith(
        "/opt/beat/venv/bin/beat -s /var/lib/beat/schedule.db --config /etc/beat/schedules.yaml"
    )


def test_web_unit_runs_the_dashboard_with_secrets_from_its_env_file() -> None:
    service = parse_unit(UNIT_DIR / "beat-web.service")["Service"]
    (exec_start,) = service["ExecStart"]
    assert exec_start.startswith(
        "/opt/beat/venv/bin/beat -s /var/lib/beat/schedule.db web --config /etc/beat/schedules.yaml"
    )
    assert "TOKEN" not in exec_start and "PASSWORD" not in exec_start
    assert service["EnvironmentFile"] == ["-/etc/beat/beat-web.env"]
    for key, value in {"User": "beat", "ProtectSystem": "strict", "NoNewPrivileges": "yes"}.items():
        assert service[key] == [value], key
    env = (UNIT_DIR / "beat-web.env").read_text()
    for variable in ("BEAT_WEB_ARGS", "BEAT_WEB_TOKEN", "BEAT_WEB_USER", "BEAT_WEB_PASSWORD_HASH"):
        assert variable in env


def test_worker_profile_comes_from_its_env_file() -> None:
    unit = parse_unit(UNIT_DIR / "worker@.service")
    service = unit["Service"]
    assert "/etc/beat/worker-%i.env" in service["EnvironmentFile"]
    (exec_start,) = service["ExecStart"]
    for variable in ("WORKER_QUEUES", "WORKER_POOL", "WORKER_CONCURRENCY", "WORKER_ARGS"):
        assert variable in exec_start
    assert unit["Unit"]["PartOf"] == ["beat-workers.target"]
    assert unit["Install"]["WantedBy"] == ["beat-workers.target"]


@pytest.mark.parametrize("name", ["worker-default.env", "worker-reports.env"])
def test_example_worker_env_files_set_every_variable(name: str) -> None:
    values = dict(
        line.split("=", 1)
        for line in (UNIT_DIR / name).read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(values) == {"WORKER_QUEUES", "WORKER_POOL", "WORKER_CONCURRENCY", "WORKER_ARGS"}
    assert values["WORKER_POOL"] in {"prefork", "threads"}
    assert int(values["WORKER_CONCURRENCY"]) >= 1
