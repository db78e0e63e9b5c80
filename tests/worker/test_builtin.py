"""The built-in ``command`` and ``log`` tasks, called directly and run by a real worker."""

from __future__ import annotations

import logging
import os
import random
import re
import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from taskqueue.broker import Broker
from taskqueue.message import RetryPolicy
from taskqueue.records import TaskState
from taskqueue.urls import open_broker
from tests.worker.conftest import StartWorker, send, wait_status
from worker import commands
from worker.builtin import OUTPUT_LIMIT_BYTES, CommandFailed
from worker.errors import Reject
from worker.registry import REGISTRY

SH = "/bin/sh"


@pytest.fixture(autouse=True)
def allow_sh() -> Iterator[None]:
    """Direct calls run under this process's policy: /bin/sh and /bin/echo, env GREETING."""
    commands.allow([SH, "/bin/echo"], ["GREETING"])
    yield
    commands.allow()


def worker_config(tmp_path: Path, *programs: str) -> str:
    """A configuration file whose worker section allows ``programs``; its path."""
    path = tmp_path / "worker.yaml"
    path.write_text(f"worker: {{commands: [{', '.join(programs)}]}}\n", encoding="utf-8")
    return str(path)


def run_command(*argv: str, **kwargs: object) -> dict[str, object]:
    result: dict[str, object] = REGISTRY.get("command").fn(*argv, **kwargs)
    return result


def test_command_captures_output_and_exit_code(tmp_path: Path) -> None:
    result = run_command(SH, "-c", "echo out; echo err >&2; exit 3", check=False)
    assert result == {"exit_code": 3, "stdout": "out\n", "stderr": "err\n"}
    with pytest.raises(CommandFailed, match="exited with status 3: err"):
        run_command(SH, "-c", "echo err >&2; exit 3")


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
    result = run_command(SH, "-c", f"head -c {OUTPUT_LIMIT_BYTES + 10} /dev/zero | tr '\\0' x")
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
    config = worker_config(tmp_path, SH)
    start_worker(sqlite_broker_url(tmp_path), "-c", "1", "--lease", "2s", "--config", config)
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
    config = worker_config(tmp_path, "/bin/echo")
    start_worker(sqlite_broker_url(tmp_path), "-c", "1", "--lease", "2s", "--config", config)
    message = send(sqlite_broker, "command", "/bin/echo", "hello")
    status = wait_status(sqlite_broker, message.id)
    assert status.result == {"exit_code": 0, "stdout": "hello\n", "stderr": ""}
    assert os.environ.get("GREETING") is None


def sqlite_broker_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'q.db'}"


# --- the allow-list (worker.commands) ---------------------------------------------------------


def test_command_refuses_programs_not_allowed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    commands.allow(["/usr/bin/df"])
    cases = [
        ((SH, "-c", f"touch {marker}"), {}, "'/bin/sh' is not in worker.commands"),
        (("df", "-h"), {}, "'df' is not an absolute path"),
        ((f"touch {marker}",), {"shell": True}, "'/bin/sh' is not in worker.commands"),
        (("/usr/bin/../bin/df",), {}, "not in worker.commands (allowed: /usr/bin/df)"),
        (("/usr/bin/df",), {"env": {"LD_PRELOAD": "/x.so"}}, "env LD_PRELOAD not in"),
    ]
    for argv, kwargs, reason in cases:
        with pytest.raises(Reject, match=re.escape(reason)):
            run_command(*argv, **kwargs)
    commands.allow()
    with pytest.raises(Reject, match=re.escape("allowed: nothing (the list is empty)")):
        run_command("/usr/bin/df")
    assert not marker.exists()


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_a_command_not_allowed_is_dead_lettered_and_never_started(
    broker: Broker, broker_url: str, start_worker: StartWorker, tmp_path: Path, pool: str
) -> None:
    marker = tmp_path / "ran"
    config = worker_config(tmp_path, "/bin/echo")
    start_worker(broker_url, "-c", "1", "-P", pool, "--config", config)
    retry = RetryPolicy(max_retries=3)
    refused = send(broker, "command", SH, "-c", f"touch {marker}", retry=retry)
    shell = send(broker, "command", f"touch {marker}", kwargs={"shell": True})
    allowed = send(broker, "command", "/bin/echo", "ok")
    for message in (refused, shell):
        status = wait_status(broker, message.id)
        assert status.state is TaskState.DEAD, status
        assert "rejected: command: program '/bin/sh' is not in worker.commands" in (
            status.error or ""
        )
        assert status.attempts == 1  # never retried
    assert wait_status(broker, allowed.id).state is TaskState.SUCCESS
    dead = {d.message_id: d.reason for d in broker.dead_letters("default")}
    assert dead.keys() == {refused.id, shell.id}
    assert "(allowed: /bin/echo)" in dead[refused.id]
    assert not marker.exists()


def test_no_commands_configured_refuses_everything(
    sqlite_broker: Broker, start_worker: StartWorker, tmp_path: Path
) -> None:
    worker = start_worker(sqlite_broker_url(tmp_path), "-c", "1")
    worker.wait_for_log("command task: refuses every program (worker.commands is empty)")
    message = send(sqlite_broker, "command", "/bin/echo", "hello")
    status = wait_status(sqlite_broker, message.id)
    assert status.state is TaskState.DEAD
    assert "allowed: nothing (the list is empty)" in (status.error or "")


# --- the hard limit ends every process the command started ------------------------------------


def _session_members(sid: int) -> set[int]:
    """Live (not zombie) processes whose session id is ``sid``."""
    members = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            data = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
            members.add(int(name))
    return members


def _pid_of_cmdline(*argv: str, timeout: float = 10.0) -> int:
    wanted = [a.encode() for a in argv]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")[:-1]
            except OSError:
                continue
            if cmdline == wanted:
                return int(name)
        time.sleep(0.05)
    raise AssertionError(f"no process {argv} started")


@pytest.mark.parametrize("pool", ["prefork", "threads"])
@pytest.mark.parametrize(
    "script",
    [
        "sleep {s} | cat",  # the pipeline's processes are the shell's children
        "sleep {s} & exit 0",  # the shell is gone: sleep is re-parented, only its session is left
    ],
)
def test_hard_limit_kills_every_process_of_the_command(
    sqlite_broker: Broker, start_worker: StartWorker, tmp_path: Path, pool: str, script: str
) -> None:
    seconds = f"{300 + random.random():.6f}"  # no other process sleeps exactly this long
    config = worker_config(tmp_path, SH)
    start_worker(sqlite_broker_url(tmp_path), "-c", "1", "-P", pool, "--config", config)
    message = send(
        sqlite_broker,
        "command",
        script.format(s=seconds),
        kwargs={"shell": True},
        time_limit=timedelta(seconds=2),
    )
    sleep_pid = _pid_of_cmdline("sleep", seconds)
    sid = os.getsid(sleep_pid)
    started = _session_members(sid)
    try:
        assert sleep_pid in started
        status = wait_status(sqlite_broker, message.id)
        assert status.state is TaskState.FAILURE
        assert "TimeLimitExceeded" in (status.error or "")
        deadline = time.monotonic() + 2.0
        while _session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _session_members(sid), f"{started} survived the hard limit"
    finally:
        for pid in _session_members(sid):
            os.kill(pid, signal.SIGKILL)
