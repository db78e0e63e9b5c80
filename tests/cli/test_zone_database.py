"""One zone database everywhere: beat reads the tzdata package, never the host's zone files.

The host's data is faked with ``PYTHONTZPATH`` (zoneinfo reads it before the system
directories and before the package): a directory whose ``Africa/Casablanca`` is really Tokyo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

import tzdata  # type: ignore[import-untyped]

ZONE = "Africa/Casablanca"


def package_zone(name: str) -> ZoneInfo:
    """``name`` read straight from the tzdata package's file (no search path involved)."""
    with resources.files("tzdata").joinpath("zoneinfo", *name.split("/")).open("rb") as f:
        return ZoneInfo.from_file(f, key=name)


def fake_host(tmp_path: Path) -> dict[str, str]:
    """An environment whose "system" zone data has a wrong Africa/Casablanca (Tokyo's)."""
    root = tmp_path / "zoneinfo"
    (root / "Africa").mkdir(parents=True)
    tokyo = resources.files("tzdata").joinpath("zoneinfo", "Asia", "Tokyo").read_bytes()
    (root / "Africa" / "Casablanca").write_bytes(tokyo)
    return {**os.environ, "PYTHONTZPATH": str(root)}


def beat(env: dict[str, str], *argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "beat", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def expected_fires(after: datetime, n: int) -> list[str]:
    """02:30 local on the days after ``after``, with the package's offsets (no DST gap at
    02:30 in Casablanca in September)."""
    zone = package_zone(ZONE)
    day = after.astimezone(zone).date()
    walls = [datetime.combine(day + timedelta(days=i), datetime.min.time()) for i in range(n + 1)]
    fires = [w.replace(hour=2, minute=30, tzinfo=zone) for w in walls]
    return [f.isoformat() for f in fires if f > after][:n]


def test_fake_host_data_really_differs_from_the_package(tmp_path: Path) -> None:
    # Guards the test itself: under the fake path, plain zoneinfo gives Tokyo's answer.
    env = fake_host(tmp_path)
    code = (
        "from datetime import datetime; from zoneinfo import ZoneInfo;"
        f"print(datetime(2026, 9, 19, 2, 30, tzinfo=ZoneInfo({ZONE!r})).isoformat())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "2026-09-19T02:30:00+09:00"
    assert expected_fires(datetime(2026, 9, 19, tzinfo=UTC), 1)[0] != out


def test_next_uses_the_package_whatever_the_host_has(tmp_path: Path) -> None:
    env = fake_host(tmp_path)
    after = datetime(2026, 9, 19, tzinfo=UTC)
    out = beat(
        env,
        "next", "--cron", "30 2 * * *", "--tz", ZONE,
        "--after", "2026-09-19T00:00:00Z", "-n", "3", "--json",
    )  # fmt: skip
    assert json.loads(out) == expected_fires(after, 3)


def test_config_entries_use_the_package_too(tmp_path: Path) -> None:
    env = fake_host(tmp_path)
    (tmp_path / "schedules.yaml").write_text(
        f"timezone: {ZONE}\nentries:\n  nightly:\n    task: app.nightly\n    cron: '30 2 * * *'\n"
    )
    out = beat(
        env, "next", "nightly", "--after", "2026-09-19T00:00:00Z", "-n", "2", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(out) == expected_fires(datetime(2026, 9, 19, tzinfo=UTC), 2)


def test_version_and_config_show_the_tzdata_version(tmp_path: Path) -> None:
    env = fake_host(tmp_path)
    shown = f"{version('tzdata')} (IANA {tzdata.IANA_VERSION})"
    out = beat(env, "--version")
    assert out.splitlines() == [f"beat, version {version('beat-scheduler')}", f"tzdata {shown}"]
    (tmp_path / "schedules.yaml").write_text("timezone: UTC\nentries: {}\n")
    data = json.loads(beat(env, "config", "--json", cwd=tmp_path))
    assert data["tzdata"] == shown
    assert f"tzdata: {shown}" in beat(env, "config", cwd=tmp_path)
