"""``beat dead`` and ``beat purge`` on both brokers: dead letters listed with reason, task,
time and attempts; requeued by id or all (same id, attempts reset, run again by a real
worker); purged (all or older than); ready messages dropped after a confirmation. Garbage in
the dead letters is named, never a crash."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from taskqueue.broker import Broker
from taskqueue.records import DeadLetterAction, Settlement, TaskState
from tests.cli.conftest import Ops
from tests.cli.runner import run
from tests.worker.conftest import send, wait_status


def dead(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "dead", *args, "--json", "--broker", url)
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    return rows


def dead_letter_directly(broker: Broker, payload_task: str = "t.noop") -> str:
    """One message claimed and settled to the dead letters through the broker's API."""
    message = send(broker, payload_task)
    (delivery,) = broker.claim_many(["default"], "test", timedelta(seconds=30), timedelta(0), 1)
    assert broker.settle_many([Settlement(delivery, DeadLetterAction("by hand"), None)]) == [True]
    return message.id


def test_list_and_requeue_by_id_with_a_real_worker(ops: Ops) -> None:
    worker = ops.start_worker(ops.broker_url, "-c", "2", "-P", "threads")
    # t.flaky fails 4 times: out of its 3 retries, FAILURE and dead-lettered; a fifth run
    # succeeds.
    first = send(ops.broker, "t.flaky", str(ops.tmp_path / "one"), 4)
    second = send(ops.broker, "t.flaky", str(ops.tmp_path / "two"), 4)
    for message in (first, second):
        assert wait_status(ops.broker, message.id).state is TaskState.FAILURE, worker.log()
    rows = {r["id"]: r for r in dead(ops.capsys, ops.broker_url)}
    assert set(rows) == {first.id, second.id}
    row = rows[first.id]
    assert (row["queue"], row["task"], row["attempts"]) == ("default", "t.flaky", 4), row
    assert row["reason"].startswith("out of retries"), row
    assert abs(datetime.fromisoformat(row["at"]) - datetime.now(UTC)) < timedelta(minutes=1)
    assert {r["id"] for r in dead(ops.capsys, ops.broker_url, "default")} == {first.id, second.id}
    code, out, _ = run(ops.capsys, "dead", "--broker", ops.broker_url)
    assert code == 0 and "out of retries" in out and "t.flaky" in out, out

    code, out, err = run(ops.capsys, "dead", "requeue", first.id, "--broker", ops.broker_url)
    assert code == 0, err
    assert out.strip() == "requeued 1 dead letter(s): 1 from default"
    try:
        status = wait_status(ops.broker, first.id, timeout=15)
    except AssertionError:
        raise AssertionError(worker.log()[-3000:]) from None
    assert (status.state, status.attempts) == (TaskState.SUCCESS, 1), (
        status,
        worker.log(),
    )  # attempts reset: the requeued run is attempt 1
    assert [r["id"] for r in dead(ops.capsys, ops.broker_url)] == [second.id]

    code, out, err = run(ops.capsys, "dead", "requeue", "no-such-id", "--broker", ops.broker_url)
    assert code == 1 and "requeued 0 dead letter(s)" in out, out
    assert "not requeued no-such-id: no such dead letter" in err


def test_requeue_all_names_garbage_and_purge_counts(
    broker_url: str, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = str(uuid.uuid4())
    if broker_url.startswith("redis"):
        import redis

        client: Any = redis.Redis.from_url(broker_url)
        # Stamped 1970 (the stream id is the instant it was dead-lettered), so first.
        fields = {"id": garbage, "payload": b"\xff{", "reason": "x", "at_ms": "1000"}
        client.xadd("beat:{q:default}:dead", fields, id="1000-0")
    else:
        import sqlite3

        db = sqlite3.connect(broker_url.removeprefix("sqlite:///"))
        db.execute(
            "INSERT INTO dead_letters (message_id, queue, payload, reason, at_s) "
            "VALUES (?, 'default', X'ff7b', 'x', 1)",
            (garbage,),
        )
        db.commit()
        db.close()
    ids = [dead_letter_directly(broker) for _ in range(3)]
    rows = {r["id"]: r for r in dead(capsys, broker_url)}
    assert "payload is not a message" in rows[garbage]["problem"], rows[garbage]
    assert rows[ids[0]]["reason"] == "by hand" and rows[ids[0]]["attempts"] == 1

    code, out, err = run(capsys, "dead", "requeue", "--all", "--queue", "default",
                         "--broker", broker_url)  # fmt: skip
    assert code == 1, (out, err)
    assert out.strip() == "requeued 3 dead letter(s): 3 from default"
    assert f"not requeued {garbage}: the payload is not a message" in err
    (stats,) = broker.queue_stats()
    assert (stats.ready, stats.dead) == (3, 1), stats
    status = broker.get_status(ids[0])
    assert status is not None and (status.state, status.attempts) == (TaskState.QUEUED, 0)

    code, out, _ = run(capsys, "dead", "purge", "--older-than", "1h", "--broker", broker_url)
    assert out.strip() == "deleted 1 dead letter(s): 1 from default", out  # stamped 1970
    dead_letter_directly(broker)
    code, out, _ = run(capsys, "dead", "purge", "default", "--broker", broker_url)
    assert code == 0 and out.strip() == "deleted 1 dead letter(s): 1 from default", out
    assert dead(capsys, broker_url) == []


def test_purge_drops_ready_messages_after_confirmation(
    broker_url: str, broker: Broker, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    for _ in range(3):
        send(broker, "t.noop")
    send(broker, "t.noop", eta=datetime.now(UTC) + timedelta(hours=1))
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = run(capsys, "purge", "default", "--broker", broker_url)
    assert code != 0 and "drop the 3 ready message(s) of queue default?" in out, out
    assert broker.queue_stats()[0].ready == 3
    code, out, _ = run(capsys, "purge", "default", "--yes", "--broker", broker_url)
    assert code == 0 and out.strip() == "dropped 3 ready message(s) from default", out
    (stats,) = broker.queue_stats()
    assert (stats.ready, stats.delayed) == (0, 1), stats
