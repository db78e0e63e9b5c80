"""What a task's status records beyond its state (issue 14 items 3 and 7): the remote
traceback of a failure (bounded), the parent id and the children (the callbacks it sent and
the calls its code made, item 7); shown by
``TaskFailed.traceback`` and ``beat status``. Real worker processes on both brokers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import status_tasks as st

from tests.worker.conftest import StartWorker
from worker import TaskFailed, TaskResult


@pytest.fixture
def worker(producer: str, start_worker: StartWorker) -> str:
    start_worker(producer, "-A", "status_tasks", "-c", "2")
    return producer


def _status(url: str, task_id: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "beat", "status", task_id, "--broker", url, "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data: dict[str, object] = json.loads(out)
    return data


def test_a_failure_carries_the_remote_traceback(worker: str) -> None:
    failure = st.boom.delay("bad input").get(timeout=15, propagate=False)
    assert isinstance(failure, TaskFailed) and failure.type == "ValueError"
    tb = failure.traceback
    assert tb is not None and tb.startswith("Traceback (most recent call last):")
    assert "status_tasks.py" in tb and "in _inner" in tb
    assert tb.rstrip().endswith("ValueError: bad input")
    shown = _status(worker, failure.task_id)
    assert shown["traceback"] == tb


def test_a_huge_traceback_is_cut_to_its_last_8_kib(worker: str) -> None:
    failure = st.boom.delay("x" * 100_000).get(timeout=15, propagate=False)
    assert isinstance(failure, TaskFailed) and failure.traceback is not None
    assert len(failure.traceback.encode()) <= 8192
    assert failure.traceback.startswith("[traceback cut: first ")
    assert failure.traceback.rstrip().endswith("x" * 100)


def test_status_names_parent_and_children(worker: str) -> None:
    parent = st.ok.apply_async(link=st.ok.si(), link_error=st.ok.si())
    assert parent.get(timeout=15) == "ok"
    child_id = f"{parent.id}:link:0"
    assert TaskResult(child_id).get(timeout=15) == "ok"
    shown = _status(worker, parent.id)
    assert shown["children"] == [child_id] and shown["parent_id"] is None
    assert _status(worker, child_id)["parent_id"] == parent.id
    text = subprocess.run(
        [sys.executable, "-m", "beat", "status", child_id, "--broker", worker],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"parent_id: {parent.id}" in text
    assert "more_children" not in text  # only when ids were left out


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_status_lists_the_calls_the_tasks_code_made(
    producer: str, start_worker: StartWorker, pool: str
) -> None:
    """Celery's children: ``.delay()``/``apply_async``/``send_task`` inside a running task.
    Prefork: the child process carries the ids back with its outcome."""
    start_worker(producer, "-A", "status_tasks", "-c", "2", "-P", pool)
    parent = st.calls.apply_async((2,), link=st.ok.si())
    sent = parent.get(timeout=15)
    assert len(sent) == 3
    shown = _status(producer, parent.id)
    assert shown["children"] == [*sent, f"{parent.id}:link:0"]
    assert shown["more_children"] == 0
    failure = st.calls_then_fails.delay().get(timeout=15, propagate=False)
    assert isinstance(failure, TaskFailed)
    (child_id,) = _status(producer, failure.task_id)["children"]  # type: ignore[misc]
    assert TaskResult(child_id).get(timeout=15) == "ok"
    assert _status(producer, child_id)["parent_id"] == failure.task_id


def test_the_children_listed_are_bounded(worker: str) -> None:
    """The first 1,000 ids, then how many more (a task may send millions of calls)."""
    parent = st.calls.delay(1002)
    sent = parent.get(timeout=30)
    shown = _status(worker, parent.id)
    assert shown["children"] == sent[:1000]
    assert shown["more_children"] == 3
    text = subprocess.run(
        [sys.executable, "-m", "beat", "status", parent.id, "--broker", worker],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "more_children: 3" in text and "attempts: 1" in text


def test_the_stored_form_keeps_the_first_1000_children_and_counts_the_rest() -> None:
    """Whatever the writer: the bound holds in the stored form (issue 14 item 7)."""
    from taskqueue.errors import DecodeError
    from taskqueue.status_details import details_from_json, details_to_json

    ids = tuple(f"c{i}" for i in range(1005))
    stored = details_to_json(None, ids, None, more_children=7)
    assert details_from_json(stored) == (None, ids[:1000], None, 12)
    assert details_from_json(details_to_json("p", ids[:2], None)) == ("p", ids[:2], None, 0)
    with pytest.raises(DecodeError, match="more_children"):
        details_from_json('{"children": [], "more_children": -1}')
