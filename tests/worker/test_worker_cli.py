"""The ``worker`` command line: usage errors (exit 2), broker failures (exit 1), config."""

from __future__ import annotations

import subprocess
from pathlib import Path

from taskqueue.records import TaskState
from taskqueue.urls import open_broker
from tests.worker.conftest import StartWorker, send, wait_status, worker_argv, worker_env


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        worker_argv(*args), capture_output=True, text=True, cwd=cwd, env=worker_env(), timeout=60
    )


def test_bad_options_and_config_exit_2_with_one_error_line_each(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("worker:\n  concurency: 4\n  lease: soon\n")
    result = run("--lease", "later", cwd=tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3, result.stderr
    assert any("unknown key 'concurency' (did you mean 'concurrency'?)" in e for e in errors)
    assert any("worker.lease: 'soon' is not a duration" in e for e in errors)
    assert any("--lease: 'later' is not a duration" in e for e in errors)


def test_unknown_pool_is_a_usage_error(tmp_path: Path) -> None:
    result = run("-P", "gevent", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "gevent" in result.stderr


def test_unreachable_broker_exits_1(tmp_path: Path) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir"
    result = run("--broker", f"sqlite:///{missing_dir}/queue.db", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "error: " in result.stderr and "unreachable" in result.stderr


def test_config_supplies_imports_queues_and_pool(tmp_path: Path, start_worker: StartWorker) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("imports: [consumer_tasks]\nworker:\n  queues: [urgent]\n  pool: threads\n")
    broker = open_broker(f"sqlite:///{tmp_path / 'queue.db'}")  # the default next to the config
    worker = start_worker(
        f"sqlite:///{tmp_path / 'queue.db'}", "--config", str(config), "-n", "w-config"
    )
    message = send(broker, "t.add", 4, 5, queue="urgent")
    assert wait_status(broker, message.id).result == 9
    assert "w-config" in worker.log() and "threads pool" in worker.log()
    assert wait_status(broker, message.id).state is TaskState.SUCCESS


def test_embedded_beat_runs_the_schedule_and_stops_with_the_worker(
    tmp_path: Path, start_worker: StartWorker
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "entries:\n  hello:\n    task: log\n    every: 1s\n    kwargs: {message: hello-from-beat}\n"
    )
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    worker = start_worker(
        url,
        "--config",
        str(config),
        "-B",
        "-s",
        str(tmp_path / "state.db"),
        "-c",
        "1",
        "-P",
        "threads",
    )
    worker.wait_for_log("hello-from-beat", timeout=20)
    worker.signal(15)
    assert worker.wait() == 0
    beats = subprocess.run(["pgrep", "-f", str(tmp_path / "state.db")], capture_output=True)
    assert beats.stdout == b"", "the embedded beat outlived its worker"
