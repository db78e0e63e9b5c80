"""README step 3: a wheel built from the checkout installs into a fresh virtualenv and works
(package data included: the Redis Lua scripts, py.typed, the dashboard's templates and static
files), without the checkout on sys.path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BEAT_CONFIG")}
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_wheel_installs_and_runs_check_and_send(tmp_path: Path, redis_url: str) -> None:
    # Build from a copy: setuptools writes build/ into the source tree.
    source = tmp_path / "source"
    for part in ("beat", "worker", "taskqueue", "daemonkit"):
        shutil.copytree(REPO / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    dist = tmp_path / "dist"
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, source, cwd=tmp_path
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build a wheel here (setuptools not reachable?): {built.stderr[-500:]}")
    (wheel,) = dist.glob("beat_scheduler-*.whl")
    # The dashboard's templates and static files (htmx, uPlot: no CDN) are package data.
    import zipfile

    shipped = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "beat/web/templates/base.html",
        "beat/web/templates/entry.html",
        "beat/web/static/htmx.min.js",
        "beat/web/static/uPlot.iife.min.js",
        "beat/web/static/uPlot.min.css",
        "beat/web/static/dashboard.css",
        "beat/web/static/depth-chart.js",
    ):
        assert data in shipped, data
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    installed = run(venv / "bin" / "pip", "install", "-q", wheel, cwd=tmp_path)
    if installed.returncode != 0:
        pytest.skip(f"dependencies not installable offline: {installed.stderr[-500:]}")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO / "schedules.yaml", work / "schedules.yaml")
    where = run(
        venv / "bin" / "python", "-c", "import taskqueue; print(taskqueue.__file__)", cwd=work
    )
    assert str(venv) in where.stdout, where  # the wheel's copy, not the checkout
    check = run(venv / "bin" / "beat", "check", cwd=work)
    assert check.returncode == 0 and "OK" in check.stdout, check
    # Redis runs the packaged Lua scripts: a send that round-trips proves they shipped.
    sent = run(venv / "bin" / "beat", "send", "log", "--broker", redis_url, cwd=work)
    assert sent.returncode == 0, sent
    status = run(
        venv / "bin" / "beat", "status", sent.stdout.strip(), "--broker", redis_url, "--json",
        cwd=work,
    )  # fmt: skip
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "QUEUED", status
