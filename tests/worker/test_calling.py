"""The calling API (issue 14): delay/apply_async/send_task and TaskResult, on both brokers,
with real worker processes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import calling_tasks
import pytest
import redis

from taskqueue.broker import Broker
from taskqueue.records import TaskState, TaskStatus
from tests.faults import procs
from tests.worker.conftest import StartWorker
from worker import (
    AsyncResult,
    ResultTimeout,
    TaskFailed,
    TaskResult,
    chord,
    configure,
    group,
    send_task,
)
from worker.producer import PRODUCER, locate_broker_url

private_redis = procs.private_redis


@pytest.fixture
def calling_redis(private_redis: Any) -> Iterator[tuple[str, Any]]:
    """The calling API configured on a private, non-persistent Redis: its URL and a client of
    it for counting commands (both undone after)."""
    url = private_redis(persistent=False).url(0)
    configure(broker=url)
    client: Any = redis.Redis.from_url(url)
    try:
        yield url, client
    finally:
        client.close()
        configure(broker=None)


def _start(start_worker: StartWorker, url: str, *args: str) -> None:
    start_worker(url, "-A", "calling_tasks", "-Q", "default,lopri", "-c", "2", *args)


def _ready(broker: Broker, queue: str) -> tuple[int, int]:
    for stats in broker.queue_stats():
        if stats.name == queue:
            return stats.ready, stats.delayed
    return 0, 0


def test_every_call_form_returns_a_result(
    producer: str, broker: Broker, start_worker: StartWorker
) -> None:
    _start(start_worker, producer)
    assert calling_tasks.add.delay(2, 2).get(timeout=15) == 4
    assert calling_tasks.add.apply_async((3, 4)).get(timeout=15) == 7
    assert calling_tasks.add.apply_async(kwargs={"a": 1, "b": 9}).get(timeout=15) == 10
    sent = send_task("c.add", args=(1, 1), priority=5)
    assert isinstance(sent, TaskResult) and AsyncResult is TaskResult
    assert sent.get(timeout=15) == 2
    assert sent.state == "SUCCESS" and sent.ready() and sent.successful() and not sent.failed()
    assert sent.info == 2
    assert calling_tasks.lopri.delay().get(timeout=15) == "low"
    chosen = calling_tasks.add.apply_async((1, 2), task_id="my-id")
    assert chosen.id == "my-id" and TaskResult("my-id").get(timeout=15) == 3


def test_queue_default_override_and_delays(producer: str, broker: Broker) -> None:
    """No worker: where each call lands (the task's queue, an explicit queue, delayed)."""
    calling_tasks.lopri.delay()
    calling_tasks.lopri.apply_async(queue="other")
    calling_tasks.add.delay(1, 1)
    assert _ready(broker, "lopri") == (1, 0)
    assert _ready(broker, "other") == (1, 0)
    assert _ready(broker, "default") == (1, 0)
    calling_tasks.add.apply_async((1, 1), countdown=60)
    calling_tasks.add.apply_async((1, 1), eta=datetime.now(UTC) + timedelta(minutes=5))
    assert _ready(broker, "default") == (1, 2)
    assert TaskResult("never-sent").state == "PENDING"


def test_naive_eta_and_bad_options_are_refused(producer: str) -> None:
    with pytest.raises(ValueError, match="eta: naive datetime"):
        calling_tasks.add.apply_async((1, 1), eta=datetime.now())
    with pytest.raises(ValueError, match="countdown or eta"):
        calling_tasks.add.apply_async((1, 1), countdown=1, eta=datetime.now(UTC))
    with pytest.raises(ValueError, match="expires: naive datetime"):
        send_task("c.add", args=(1, 1), expires=datetime.now())
    with pytest.raises(TypeError):
        send_task("c.add", args=(1, 1), link="nope")  # not a signature


def test_countdown_delays_the_run(producer: str, start_worker: StartWorker) -> None:
    _start(start_worker, producer)
    began = time.monotonic()
    assert calling_tasks.add.apply_async((2, 3), countdown=1.5).get(timeout=15) == 5
    assert time.monotonic() - began >= 1.4


def test_expired_call_is_not_run(producer: str, start_worker: StartWorker) -> None:
    result = calling_tasks.add.apply_async((1, 1), expires=0.2)
    time.sleep(0.4)
    _start(start_worker, producer)
    failure = result.get(timeout=15, propagate=False)
    assert isinstance(failure, TaskFailed) and failure.state == "EXPIRED"
    assert result.state == "EXPIRED" and result.failed()


def test_get_times_out_then_failure_propagates(producer: str, start_worker: StartWorker) -> None:
    _start(start_worker, producer)
    slow = calling_tasks.sleep.delay(3)
    began = time.monotonic()
    with pytest.raises(ResultTimeout) as timed_out:
        slow.get(timeout=0.5)
    assert isinstance(timed_out.value, TimeoutError)
    assert 0.45 <= time.monotonic() - began < 2

    failed = calling_tasks.boom.delay("bad input")
    with pytest.raises(TaskFailed) as raised:
        failed.get(timeout=15)
    assert (raised.value.type, raised.value.message) == ("ValueError", "bad input")
    assert raised.value.state == "FAILURE"
    returned = failed.get(timeout=1, propagate=False)
    assert isinstance(returned, TaskFailed) and returned.type == "ValueError"
    assert failed.failed() and isinstance(failed.info, TaskFailed)
    failed.forget()
    assert failed.state == "PENDING"


def test_a_forked_child_sends_on_its_own_connection(
    producer: str, start_worker: StartWorker
) -> None:
    _start(start_worker, producer)
    parent_broker = PRODUCER.get()
    assert calling_tasks.add.delay(1, 1).get(timeout=15) == 2
    pid = os.fork()
    if pid == 0:  # the child: must never return into pytest
        code = 1
        try:
            fresh = PRODUCER.get() is not parent_broker
            if fresh and calling_tasks.add.delay(2, 3).get(timeout=15) == 5:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert PRODUCER.get() is parent_broker  # the parent's connection is untouched
    assert calling_tasks.add.delay(3, 3).get(timeout=15) == 6


def test_one_connection_for_every_thread(producer: str) -> None:
    configure(broker=producer)  # closed: the threads race to open it
    seen: list[Any] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        seen.append(PRODUCER.get())

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(b is seen[0] for b in seen)


def _commands(client: Any, name: str) -> int:
    stats = client.info("commandstats").get(f"cmdstat_{name}", {})
    return int(stats.get("calls", 0))


def test_get_on_redis_blocks_instead_of_polling(
    calling_redis: tuple[str, Any], start_worker: StartWorker
) -> None:
    """A 2 s wait costs a handful of status reads (a poll every 0.1 s would be ~20), and
    returns promptly once the worker records the result."""
    url, client = calling_redis
    _start(start_worker, url)
    result = calling_tasks.sleep.delay(2)
    reads, blpops = _commands(client, "hgetall"), _commands(client, "blpop")
    assert result.get(timeout=15) == 2
    returned = datetime.now(UTC)
    assert _commands(client, "hgetall") - reads <= 5
    assert _commands(client, "blpop") > blpops
    status = result.status()
    assert status is not None and status.finished_at is not None
    assert returned - status.finished_at < timedelta(seconds=0.5)


def _reads(client: Any) -> int:
    """Reads the server has done on its sockets: one per batch of commands that arrives
    together, so a call that is one round trip costs one."""
    return int(client.info("stats")["total_reads_processed"])


def test_apply_async_is_one_round_trip(calling_redis: tuple[str, Any]) -> None:
    """Each call is one message and one network round trip: its commands go out together
    (counted by the server's socket reads; the INFO that reads the count is one more)."""
    _, client = calling_redis
    calling_tasks.add.delay(0, 0)  # opens the connection and loads the scripts
    calls, reads = _commands(client, "evalsha"), _reads(client)
    for i in range(20):
        calling_tasks.add.apply_async((i, i))
    assert _reads(client) - reads == 20 + 1
    assert _commands(client, "evalsha") - calls == 20  # one message each, never batched


def test_group_and_chord_send_their_members_in_one_round_trip(
    calling_redis: tuple[str, Any],
) -> None:
    """A group's (and a chord's) members are one batch: one round trip for all of them, each
    still its own message, enqueue-once by its id, on its own queue."""
    _, client = calling_redis
    calling_tasks.add.delay(0, 0)  # opens the connection and loads the scripts
    reads = _reads(client)
    members = [calling_tasks.add.s(i, i) for i in range(10)]
    sent = group([*members, calling_tasks.lopri.s()]).apply_async()
    assert _reads(client) - reads == 1 + 1
    assert len({r.id for r in sent}) == 11
    assert [r.state for r in sent] == ["QUEUED"] * 11
    assert _ready(PRODUCER.get(), "lopri") == (1, 0)  # on its task's own queue
    reads = _reads(client)
    chord(members, calling_tasks.add.s(1)).apply_async()
    assert _reads(client) - reads == 1 + 1


def test_get_reads_the_status_and_waits_in_one_round_trip(calling_redis: tuple[str, Any]) -> None:
    """``get`` reads the status hash, then blocks on the done list and reads the final
    status in one round trip: no QUEUED lookup in the queues (SMEMBERS, HGET) while waiting.
    The final state is written by another connection, as a worker's settle would."""
    url, client = calling_redis
    result = calling_tasks.add.delay(2, 3)
    writer = PRODUCER.get().__class__(url)
    writer.ping()  # connected before the count

    def settle() -> None:
        time.sleep(0.3)
        writer.set_status(
            TaskStatus(id=result.id, task="c.add", state=TaskState.SUCCESS, attempts=1, result=5)
        )

    before = {c: _commands(client, c) for c in ("smembers", "hget", "hgetall", "blpop")}
    reads = _reads(client)
    thread = threading.Thread(target=settle)
    thread.start()
    assert result.get(timeout=15) == 5
    thread.join()
    # The reads: this INFO, the writer's transaction, get's status read, its wait
    # (the BLPOP and the status read behind it go out together).
    assert _reads(client) - reads == 1 + 1 + 1 + 1
    after = {c: _commands(client, c) - n for c, n in before.items()}
    assert after == {"smembers": 0, "hget": 0, "hgetall": 2, "blpop": 1}
    writer.close()


def test_the_broker_is_found_like_the_commands_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BEAT_CONFIG", raising=False)
    assert locate_broker_url() == f"sqlite:///{tmp_path / 'queue.db'}"
    (tmp_path / "schedules.yaml").write_text("broker: redis://example:6379/3\n")
    assert locate_broker_url() == "redis://example:6379/3"
    other = tmp_path / "conf" / "beat.yaml"
    other.parent.mkdir()
    other.write_text("entries: {}\n")
    monkeypatch.setenv("BEAT_CONFIG", str(other))
    assert locate_broker_url() == f"sqlite:///{other.parent / 'queue.db'}"
    monkeypatch.setenv("BEAT_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match=r"missing\.yaml: no such file"):
        locate_broker_url()


def test_the_first_call_reads_the_config_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker and the routes are both found on a process's first call: one read serves
    both; an edited file is read again."""
    import worker.settings
    from worker.producer import locate_routes

    reads: list[Path] = []
    real = worker.settings.load_settings

    def counted(path: Path) -> Any:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(worker.settings, "load_settings", counted)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BEAT_CONFIG", raising=False)
    config = tmp_path / "schedules.yaml"
    config.write_text("broker: redis://example:6379/3\nroutes:\n  'a.*': {queue: qa}\n")
    assert locate_broker_url() == "redis://example:6379/3"
    assert [r.queue for r in locate_routes()] == ["qa"]
    assert len(reads) == 1
    config.write_text("broker: redis://example:6379/4\n")  # another size: read again
    assert locate_broker_url() == "redis://example:6379/4"
    assert locate_routes() == []
    assert len(reads) == 2
