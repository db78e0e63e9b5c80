"""``beat revoke`` on both brokers with real workers: a queued or delayed task is removed and
recorded REVOKED; ``--terminate`` stops a running one (prefork: its process killed; threads:
the async exception) and records REVOKED; a revoked id never runs later, even from a
redelivered copy."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from taskqueue.broker import Broker
from taskqueue.message import Message
from taskqueue.records import RevokedWhere, TaskState
from tests.cli.conftest import Ops
from tests.cli.runner import run
from tests.worker.conftest import kill9_group, send, wait_status


def revoke(capsys: pytest.CaptureFixture[str], url: str, task_id: str, *flags: str) -> dict:  # type: ignore[type-arg]
    code, out, err = run(capsys, "revoke", task_id, "--json", "--broker", url, *flags)
    assert code == 0, err
    data: dict = json.loads(out)  # type: ignore[type-arg]
    return data


def marks(tmp_path: Path) -> list[str]:
    path = tmp_path / "marks"
    return path.read_text().splitlines() if path.exists() else []


def test_a_queued_task_is_removed_and_never_runs_even_when_sent_again(ops: Ops) -> None:
    message = send(ops.broker, "t.sleep_mark", 0, str(ops.tmp_path / "marks"), "revoked")
    code, out, _ = run(ops.capsys, "revoke", message.id, "--broker", ops.broker_url)
    assert code == 0 and f"{message.id}: removed 1 queued message from default" in out, out
    status = ops.broker.get_status(message.id)
    assert status is not None and status.state is TaskState.REVOKED
    assert status.task == "t.sleep_mark", status
    # The same id again (a redelivered copy, a resend), then a task that runs.
    again = Message(
        id=message.id, task="t.sleep_mark", args=(0, str(ops.tmp_path / "marks"), "revoked")
    )
    ops.broker.enqueue_many([again], dedupe_ttl=timedelta(milliseconds=1))
    after = send(ops.broker, "t.sleep_mark", 0, str(ops.tmp_path / "marks"), "after")
    ops.start_worker(ops.broker_url, "-c", "1", "-P", "threads")
    wait_status(ops.broker, after.id)
    assert [m.split()[1] for m in marks(ops.tmp_path)] == ["after", "after"], marks(ops.tmp_path)
    status = ops.broker.get_status(message.id)
    assert status is not None and status.state is TaskState.REVOKED, status


def test_a_delayed_task_is_removed(
    broker_url: str, broker: Broker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eta = datetime.now(UTC) + timedelta(minutes=5)
    message = send(broker, "t.sleep_mark", 0, str(tmp_path / "marks"), eta=eta)
    data = revoke(capsys, broker_url, message.id)
    assert (data["where"], data["queue"]) == (RevokedWhere.DELAYED.value, "default")
    (stats,) = broker.queue_stats() or [None]
    assert stats is None or (stats.ready, stats.delayed) == (0, 0), stats
    status = broker.get_status(message.id)
    assert status is not None and status.state is TaskState.REVOKED


def test_an_unknown_id_is_revoked_ahead(
    broker_url: str, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    data = revoke(capsys, broker_url, uuid.uuid4().hex)
    assert data["where"] == RevokedWhere.NOT_FOUND.value


@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_terminate_stops_a_running_task_and_the_worker_goes_on(ops: Ops, pool: str) -> None:
    worker = ops.start_worker(ops.broker_url, "-c", "1", "-P", pool)
    message = send(ops.broker, "t.sleep_mark", 60, str(ops.tmp_path / "marks"), "long")
    wait_status(ops.broker, message.id, states={TaskState.STARTED})
    data = revoke(ops.capsys, ops.broker_url, message.id, "--terminate")
    assert (data["where"], data["terminate"]) == (RevokedWhere.RUNNING.value, True)
    status = wait_status(ops.broker, message.id, timeout=10)
    assert status.state is TaskState.REVOKED, (status, worker.log())
    assert "revoked" in (status.error or "")
    after = send(ops.broker, "t.sleep_mark", 0, str(ops.tmp_path / "marks"), "after")
    assert wait_status(ops.broker, after.id).state is TaskState.SUCCESS, worker.log()
    labels = [m.split()[:2] for m in marks(ops.tmp_path)]
    assert labels == [["start", "long"], ["start", "after"], ["end", "after"]], labels
    assert worker.proc.poll() is None


def test_a_revoked_running_task_is_not_run_again_from_a_redelivered_copy(ops: Ops) -> None:
    first = ops.start_worker(ops.broker_url, "-c", "1", "-P", "threads", "--lease", "1s")
    message = send(ops.broker, "t.sleep_mark", 60, str(ops.tmp_path / "marks"), "once")
    wait_status(ops.broker, message.id, states={TaskState.STARTED})
    data = revoke(ops.capsys, ops.broker_url, message.id)  # no --terminate: it would run on
    assert data["where"] == RevokedWhere.RUNNING.value
    kill9_group(first)  # its lease runs out: the message is redelivered to the next worker
    ops.start_worker(ops.broker_url, "-c", "1", "-P", "threads", "--lease", "1s")
    status = wait_status(ops.broker, message.id, states={TaskState.REVOKED}, timeout=15)
    assert status.state is TaskState.REVOKED
    after = send(ops.broker, "t.sleep_mark", 0, str(ops.tmp_path / "marks"), "after")
    wait_status(ops.broker, after.id)
    assert [m.split()[:2] for m in marks(ops.tmp_path)] == [
        ["start", "once"], ["start", "after"], ["end", "after"]
    ]  # fmt: skip


def test_garbage_in_the_revoked_ids_is_named_or_ignored_never_a_crash(
    broker_url: str, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskqueue.errors import BrokerDataError

    message = send(broker, "t.noop")
    if broker_url.startswith("sqlite"):
        import sqlite3

        revoke(capsys, broker_url, "someone-else")  # makes the table
        db = sqlite3.connect(broker_url.removeprefix("sqlite:///"))
        db.execute("INSERT INTO revoked VALUES (?, 1, 'soon')", (message.id,))
        db.commit()
        db.close()
        # An expiry that is no number is no revocation: the message is delivered.
        claimed = broker.claim_many(["default"], "t", timedelta(seconds=5), timedelta(0), 1)
        assert [d.message_id for d in claimed] == [message.id]
        assert broker.terminations([message.id]) == set()
        return
    import redis

    client: Any = redis.Redis.from_url(broker_url)
    client.set("beat:revoked", "not a zset")
    with pytest.raises(BrokerDataError, match=r"key beat:revoked holds a string, expected a zset"):
        broker.claim_many(["default"], "t", timedelta(seconds=5), timedelta(0), 1)
    code, _, err = run(capsys, "revoke", message.id, "--broker", broker_url)
    assert code != 0 and "beat:revoked holds a string" in err, err
