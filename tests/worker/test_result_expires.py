"""Per-call result lifetime (issue 14 item 3): ``apply_async(result_expires=...)`` keeps that
call's status and result that long after it ends instead of the default day; real workers
on both brokers."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
import status_tasks as st

from taskqueue.message import Message
from tests.worker.conftest import StartWorker
from worker import TaskResult, send_task


def test_a_call_s_result_expires_after_its_own_lifetime(
    producer: str, start_worker: StartWorker
) -> None:
    start_worker(producer, "-A", "status_tasks", "-c", "2")
    short = st.ok.apply_async(result_expires=1)
    kept = st.ok.apply_async(result_expires=timedelta(hours=1))
    default = send_task("s.ok")
    failed = st.boom.apply_async(("no",), result_expires="1s")
    assert short.get(timeout=15) == kept.get(timeout=15) == default.get(timeout=15) == "ok"
    failed.get(timeout=15, propagate=False)
    time.sleep(1.5)
    assert short.state == "PENDING" and failed.state == "PENDING"  # forgotten
    assert kept.state == "SUCCESS" and TaskResult(default.id).state == "SUCCESS"


def test_result_expires_travels_in_the_message_only_when_set() -> None:
    plain = Message(id="a", task="t")
    assert b"result_expires" not in plain.encode()
    assert Message.decode(plain.encode()).result_expires is None
    with_ttl = Message(id="a", task="t", result_expires=timedelta(minutes=5))
    assert Message.decode(with_ttl.encode()).result_expires == timedelta(minutes=5)
    with pytest.raises(ValueError, match="result_expires: must be positive"):
        Message(id="a", task="t", result_expires=timedelta(0))


def test_a_bad_result_expires_is_refused(producer: str) -> None:
    with pytest.raises(ValueError, match=r"s\.ok: result_expires"):
        st.ok.apply_async(result_expires="soon")


def test_the_worker_setting_is_the_default_lifetime(
    producer: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    config = tmp_path / "w.yaml"
    config.write_text("worker:\n  result_expires: 1s\n")
    start_worker(producer, "--config", str(config), "-A", "status_tasks")
    short = st.ok.delay()
    kept = st.ok.apply_async(result_expires="1h")
    assert short.get(timeout=15) == kept.get(timeout=15) == "ok"
    time.sleep(1.5)
    assert short.state == "PENDING" and kept.state == "SUCCESS"
