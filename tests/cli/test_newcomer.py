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
    result = beat("next", "good", "-n", "1", cwd=tmp_path)
    assert result.returncode == 0, result
    assert result.stderr.startswith("warning: ") and warning in result.stderr, result
    # queues and status read only `broker:` (issue 17): the entries are `beat check`'s business.
    for command in (["queues"], ["status", "nope"]):
        result = beat(*command, cwd=tmp_path)
        assert result.returncode == (3 if command[0] == "status" else 0), (command, result)
        assert result.stderr == "", result
    checked = beat("check", cwd=tmp_path)
    assert checked.returncode == 2 and warning in checked.stderr


def test_queues_and_status_read_only_the_broker_of_the_configuration(tmp_path: Path) -> None:
    """Issue 17: `beat queues`/`status` check `broker:` and the file as a whole, nothing else
    (a bad zone or entry does not change what the broker holds)."""
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert beat("send", "log", "--broker", url, cwd=tmp_path).returncode == 0
    config = tmp_path / "schedules.yaml"
    config.write_text(f"timezone: Mars/Olympus\nbroker: {url}\nentries: {{x: {{every: soon}}}}\n")
    queues = beat("queues", "--json", cwd=tmp_path)
    assert queues.returncode == 0 and queues.stderr == "", queues
    assert [q["name"] for q in json.loads(queues.stdout)] == ["default"]
    assert beat("check", cwd=tmp_path).returncode == 2
    bad = {
        "timezone: UTC\nbroker: sentinel://h:26379\n": "schedules.yaml:2: broker: broker URL",
        "broker: 42\n": "schedules.yaml:1: broker: expected a broker URL",
        f"broker: {url}\nbroker: {url}\n": "schedules.yaml:2: duplicate key 'broker'",
        "- a list\n": "schedules.yaml:1: expected a mapping at the top level",
        "entries: [\n": "schedules.yaml",
    }
    for text, error in bad.items():
        config.write_text(text)
        for command in (["queues"], ["status", "x"]):
            result = beat(*command, cwd=tmp_path)
            assert result.returncode == 2, (text, command, result)
            assert result.stderr.startswith("error: ") and error in result.stderr, (text, result)
    # --broker still wins over the file; BEAT_CONFIG over ./schedules.yaml.
    assert beat("queues", "--broker", url, cwd=tmp_path).returncode == 0
    other = tmp_path / "other.yaml"
    other.write_text(f"broker: {url}\n")
    chosen = beat("status", "x", cwd=tmp_path, env={"BEAT_CONFIG": str(other)})
    assert chosen.returncode == 3 and chosen.stderr == "", chosen
    default = tmp_path / "default.yaml"
    default.write_text("timezone: UTC\n")
    empty = beat("queues", "--config", str(default), "--json", cwd=tmp_path)
    assert empty.returncode == 0 and json.loads(empty.stdout) == [], empty
    assert not (tmp_path / "queue.db").exists()  # the default queue file is not created by looking


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
