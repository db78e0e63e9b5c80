"""The built-in ``command`` and ``log`` tasks, called directly and run by a real worker."""

from __future__ import annotations

import logging
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from taskqueue.broker import Broker, TaskState
from taskqueue.urls import open_broker
from tests.worker.conftest import StartWorker, send, wait_status
from worker.builtin import OUTPUT_LIMIT_BYTES, CommandFailed
from worker.registry import REGISTRY


def run_command(*argv: str, **kwargs: object) -> dict[str, object]:
    result: dict[str, object] = REGISTRY.get("command").fn(*argv, **kwargs)
    return result


def test_command_captures_output_and_exit_code(tmp_path: Path) -> None:
    result = run_command("sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert result == {"exit_code": 3, "stdout": "out\n", "stderr": "err\n"}
    with pytest.raises(CommandFailed, match="exited with status 3: err"):
        run_command("sh", "-c", "echo err >&2; exit 3")


def test_command_shell_cwd_and_env(tmp_path: Path) -> None:
    result = run_command(
        "echo $GREETING; pwd", shell=True, cwd=str(tmp_path), env={"GREETING": "hi"}
    )
    assert result["stdout"] == f"hi\n{tmp_path}\n"
    with pytest.raises(ValueError, match="shell=true"):
        run_command("echo", "a", shell=True)
    with pytest.raises(ValueError, match="must name a program"):
        run_command()


def test_command_output_is_truncated_to_the_limit() -> None:
    result = run_command("sh", "-c", f"head -c {OUTPUT_LIMIT_BYTES + 10} /dev/zero | tr '\\0' x")
    stdout = str(result["stdout"])
    assert stdout.startswith("[... 10 bytes truncated ...]\n")
    assert stdout.endswith("x" * OUTPUT_LIMIT_BYTES)


def test_log_task_logs_and_returns_the_message(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="worker.builtin"):
        assert REGISTRY.get("log").fn(message="hello") == "hello"
    assert ("worker.builtin", logging.INFO, "hello") in caplog.record_tuples


@pytest.fixture
def sqlite_broker(tmp_path: Path) -> Broker:
    return open_broker(f"sqlite:///{tmp_path / 'q.db'}")


def _gone(pid: int, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize(
    ("limit_field", "error"),
    [("time_limit", "TimeLimitExceeded"), ("soft_time_limit", "SoftTimeLimitExceeded")],
)
def test_time_limits_kill_the_program_too(
    sqlite_broker: Broker, start_worker: StartWorker, tmp_path: Path, limit_field: str, error: str
) -> None:
    pid_file = tmp_path / "pid"
    start_worker(sqlite_broker_url(tmp_path), "-c", "1", "--lease", "2s")
    message = send(
        sqlite_broker,
        "command",
        f"echo $$ > {pid_file}; exec sleep 30",
        kwargs={"shell": True},
        **{limit_field: timedelta(seconds=0.5)},
    )
    status = wait_status(sqlite_broker, message.id)
    assert status.state is TaskState.FAILURE and error in (status.error or "")
    pid = int(pid_file.read_text())
    assert _gone(pid), f"sleep {pid} survived the {limit_field}"


def test_command_end_to_end_result(
    sqlite_broker: Broker, start_worker: StartWorker, tmp_path: Path
) -> None:
    start_worker(sqlite_broker_url(tmp_path), "-c", "1", "--lease", "2s")
    message = send(sqlite_broker, "command", "echo", "hello")
    status = wait_status(sqlite_broker, message.id)
    assert status.result == {"exit_code": 0, "stdout": "hello\n", "stderr": ""}
    assert os.environ.get("GREETING") is None


def sqlite_broker_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'q.db'}"
