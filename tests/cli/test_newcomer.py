"""A newcomer's first hour with the ``beat`` command line (issue 12): exit codes that scripts
can rely on, no silent queue files, answers from a half-broken schedules.yaml.

Each command runs as a real process in a scratch directory, as a user would type it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def beat(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "BEAT_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "beat", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, "PYTHONPATH": str(REPO), **(env or {})},
        timeout=60,
    )


def test_status_of_an_unknown_id_exits_3(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    sent = beat("send", "log", "--broker", url, cwd=tmp_path)
    assert sent.returncode == 0, sent.stderr
    known = beat("status", sent.stdout.strip(), "--broker", url, cwd=tmp_path)
    assert known.returncode == 0, known.stderr
    unknown = beat("status", "no-such-id", "--broker", url, "--json", cwd=tmp_path)
    assert unknown.returncode == 3, unknown.stderr
    assert json.loads(unknown.stdout)["state"] == "unknown"
    assert "Exit status 3" in beat("status", "--help", cwd=tmp_path).stdout


def test_send_without_configuration_or_broker_refuses_and_creates_nothing(tmp_path: Path) -> None:
    for command in (["send", "log"], ["queues"], ["status", "some-id"]):
        result = beat(*command, cwd=tmp_path)
        assert result.returncode == 2, (command, result)
        assert result.stderr.startswith("error: no configuration found: schedules.yaml"), result
        for way in ("--config", "BEAT_CONFIG", "--broker"):
            assert way in result.stderr
    missing = beat("send", "log", cwd=tmp_path, env={"BEAT_CONFIG": str(tmp_path / "prod.yaml")})
    assert missing.returncode == 2 and f"{tmp_path / 'prod.yaml'} does not exist" in missing.stderr
    assert list(tmp_path.iterdir()) == []  # no queue.db appeared


def test_read_only_commands_answer_from_the_valid_entries(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").write_text(
        "entries:\n  good: {task: log, every: 10s}\n  broken: {task: log, every: soon}\n"
    )
    warning = "schedules.yaml:3: entries.broken.every: 'soon' is not a duration"
    listed = beat("list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [e["name"] for e in json.loads(listed.stdout)] == ["good"]
    for command in (["next", "good", "-n", "1"], ["queues"], ["status", "nope"]):
        result = beat(*command, cwd=tmp_path)
        assert result.returncode == (3 if command[0] == "status" else 0), (command, result)
        assert result.stderr.startswith("warning: ") and warning in result.stderr, result
    checked = beat("check", cwd=tmp_path)
    assert checked.returncode == 2 and warning in checked.stderr


def test_a_problem_outside_the_entries_still_exits_2(tmp_path: Path) -> None:
    # The zone of every entry is in doubt: no answer is better than a wrong one.
    (tmp_path / "schedules.yaml").write_text(
        "timezone: Mars/Olympus\nentries:\n  good: {task: log, every: 10s}\n"
    )
    for command in (["list"], ["next", "good"]):
        result = beat(*command, cwd=tmp_path)
        assert result.returncode == 2 and "error: " in result.stderr, result


def test_importing_the_cli_loads_neither_sqlalchemy_nor_redis() -> None:
    # Structural guard for start-up time: these are loaded by the commands that need them.
    code = "import sys, beat.cli; print(sorted({'sqlalchemy', 'redis'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result
