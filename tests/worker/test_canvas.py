"""Signatures, link/link_error, chain, group and chord (issue 14 item 6), on both brokers with
real worker processes."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import canvas_tasks
import pytest

from taskqueue.broker import ACK, Broker, Delivery, Settlement, TaskState, TaskStatus
from taskqueue.errors import DecodeError
from taskqueue.message import Message
from taskqueue.urls import open_broker
from tests.worker.conftest import StartWorker, kill9_group
from worker import GroupResult, TaskFailed, TaskResult, chain, chord, group, signature
from worker.canvas import Signature
from worker.consumer.callbacks import send_callbacks
from worker.consumer.outcomes import Pending


def _start(start_worker: StartWorker, url: str, *args: str) -> None:
    start_worker(url, "-A", "canvas_tasks", "-c", "2", *args)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _wait_lines(path: Path, n: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_lines(path)) >= n:
            return _lines(path)
        time.sleep(0.05)
    raise AssertionError(f"{path}: fewer than {n} lines after {timeout}s: {_lines(path)}")


def test_signature_partial_arguments_and_wire() -> None:
    s = canvas_tasks.add.s(2)
    assert (s.task, s.args, s.kwargs) == ("cv.add", (2,), {})
    assert s.clone((5,)).args == (5, 2)  # as Celery: new arguments come first
    assert canvas_tasks.add.si(1, 2).clone((9,)).args == (1, 2)  # immutable
    full = canvas_tasks.add.signature((1,), {"b": 2}, queue="q", countdown=5)
    full.link(canvas_tasks.add.s(1))
    assert Signature.from_wire(full.to_wire()) == full
    assert signature("cv.add", (1, 2)) == canvas_tasks.add.s(1, 2)
    with pytest.raises(TypeError):
        canvas_tasks.add.signature((1,), colour="red")
    with pytest.raises(TypeError, match="link: expected a signature"):
        canvas_tasks.add.apply_async((1, 1), link="nope")


def test_a_message_without_callbacks_keeps_the_old_wire() -> None:
    plain = Message(id="x", task="t")
    assert b"callbacks" not in plain.encode()
    assert Message.decode(plain.encode()) == plain


def test_signature_delay_and_link(producer: str, start_worker: StartWorker, tmp_path: Path) -> None:
    _start(start_worker, producer)
    assert canvas_tasks.add.s(2).delay(3).get(timeout=15) == 5
    marks = tmp_path / "marks"
    parent = canvas_tasks.add.apply_async(
        (2, 3), link=canvas_tasks.record.s("extra", path=str(marks))
    )
    assert parent.get(timeout=15) == 5
    assert _wait_lines(marks, 1) == ["[5, 'extra']"]  # the parent's result prepended
    callback = TaskResult(f"{parent.id}:link:0")
    assert callback.get(timeout=15) == [5, "extra"]


def test_link_error_gets_the_parent_id_and_error(
    producer: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    _start(start_worker, producer)
    marks = tmp_path / "marks"
    failed = canvas_tasks.boom.apply_async(
        ("bad input",),
        link=canvas_tasks.record.s(path=str(marks / "never")),
        link_error=canvas_tasks.record.s(path=str(marks)),
    )
    with pytest.raises(TaskFailed):
        failed.get(timeout=15)
    assert _wait_lines(marks, 1) == [repr([failed.id, "ValueError: bad input"])]
    time.sleep(0.3)
    assert _lines(marks) == [repr([failed.id, "ValueError: bad input"])]


def test_chain_of_three_passes_results(
    producer: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    _start(start_worker, producer)
    marks = str(tmp_path / "marks")
    flow = chain(
        canvas_tasks.step.s(1, marks, "a"),
        canvas_tasks.step.s(marks, "b"),
        canvas_tasks.step.s(marks, "c"),
    )
    result = flow.apply_async()
    assert isinstance(result, TaskResult)
    assert result.get(timeout=20) == 4
    assert (canvas_tasks.add.s(1) | canvas_tasks.add.s(10)).delay(1).get(timeout=15) == 12


def test_chain_stops_at_a_failure_and_says_so(producer: str, start_worker: StartWorker) -> None:
    _start(start_worker, producer)
    result = chain(canvas_tasks.boom.s("no"), canvas_tasks.add.s(1)).apply_async()
    with pytest.raises(TaskFailed) as raised:
        result.get(timeout=15)
    assert raised.value.type == "ChainBroken"
    assert "ValueError: no" in raised.value.message


def test_group_results_in_order(producer: str, start_worker: StartWorker) -> None:
    _start(start_worker, producer)
    results = group(canvas_tasks.add.s(i, i) for i in range(6)).apply_async()
    assert isinstance(results, GroupResult) and len(results) == 6
    assert results.get(timeout=20) == [0, 2, 4, 6, 8, 10]
    assert results.ready() and results.successful()


def test_kill9_between_steps_of_a_chain(
    producer: str, broker: Broker, start_worker: StartWorker, tmp_path: Path
) -> None:
    """The worker dies (kill -9) while the chain's middle step runs: another worker runs that
    step again after the lease runs out, and the chain completes; the steps before and after
    it ran once (the one that died under the kill: started twice, ended once)."""
    marks = tmp_path / "marks"
    first = start_worker(producer, "-A", "canvas_tasks", "-c", "1", "--lease", "1s")
    flow = chain(
        canvas_tasks.step.s(1, str(marks), "a"),
        canvas_tasks.step.s(str(marks), "b", 3.0),
        canvas_tasks.step.s(str(marks), "c"),
    )
    result = flow.apply_async()
    deadline = time.monotonic() + 15
    while not any(line.startswith("start b") for line in _lines(marks)):
        assert time.monotonic() < deadline, _lines(marks)
        time.sleep(0.05)
    kill9_group(first)
    _start(start_worker, producer, "--lease", "1s")
    assert result.get(timeout=30) == 4
    labels = [line.rsplit(" ", 1)[0] for line in _lines(marks)]
    assert labels.count("start a") == 1 and labels.count("end a") == 1
    assert labels.count("start b") == 2 and labels.count("end b") == 1
    assert labels.count("start c") == 1 and labels.count("end c") == 1


def test_chord_part_counts_atomically(broker_url: str) -> None:
    """Eight members recorded at once from eight connections: exactly one sees the chord
    complete, with every value in order; recording a member again sees it complete again."""
    brokers = [open_broker(broker_url) for _ in range(8)]
    barrier = threading.Barrier(8)
    seen: list[list[object] | None] = [None] * 8

    def member(i: int) -> None:
        barrier.wait()
        seen[i] = brokers[i].chord_part("ch1", i, 8, {"ok": i})

    threads = [threading.Thread(target=member, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    complete = [s for s in seen if s is not None]
    assert complete == [[{"ok": i} for i in range(8)]]
    assert brokers[0].chord_part("ch1", 3, 8, {"ok": 3}) == complete[0]
    for b in brokers:
        b.close()


def test_chord_callback_once_when_members_finish_together(
    producer: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    _start(start_worker, producer, "-c", "1")
    _start(start_worker, producer, "-c", "1")
    marks = tmp_path / "marks"
    for round_ in range(2):
        instant = time.time() + 2.0
        header = [canvas_tasks.at.s(v, str(marks), instant) for v in (10 * round_ + 1, 2)]
        result = chord(header, canvas_tasks.total.s(str(marks))).apply_async()
        assert result.get(timeout=20) == 10 * round_ + 3
    time.sleep(0.5)  # a second send of the body would have run by now
    lines = _lines(marks)
    assert [line for line in lines if line.startswith("total")] == ["total [1, 2]", "total [11, 2]"]
    pids = {line.split()[2] for line in lines if line.startswith("member")}
    assert len(pids) == 2, lines  # the members ran on the two workers


def test_chord_with_a_failed_member_fails_its_body(
    producer: str, start_worker: StartWorker, tmp_path: Path
) -> None:
    _start(start_worker, producer)
    marks = tmp_path / "marks"
    body = canvas_tasks.total.s(str(marks))
    body.link_error(canvas_tasks.record.s(path=str(marks)))
    result = chord([canvas_tasks.add.s(1, 1), canvas_tasks.boom.s("x")], body).apply_async()
    with pytest.raises(TaskFailed) as raised:
        result.get(timeout=20)
    assert raised.value.type == "ChordError" and "ValueError: x" in raised.value.message
    line = _wait_lines(marks, 1)[0]
    assert line.startswith(f"[{result.id!r}, 'ChordError: member ")
    assert not any(line.startswith("total") for line in _lines(marks))


@pytest.mark.parametrize(
    ("callbacks", "error"),
    [
        ("x", "callbacks: expected an object"),
        ({"link": {}}, "callbacks.link: expected a list"),
        ({"link": [{"task": ""}]}, r"callbacks.link\[0\].task"),
        ({"link": [{"task": "t", "options": {"link": [5]}}]}, r"options.link\[0\]"),
        ({"chord": {"id": "c", "index": 2, "size": 2, "callback": {"task": "t"}}}, "index"),
        ({"other": []}, "unknown fields"),
    ],
)
def test_garbage_callbacks_are_a_decode_error(callbacks: object, error: str) -> None:
    wire = json.loads(Message(id="x", task="t").encode())
    wire["callbacks"] = callbacks
    with pytest.raises(DecodeError, match=error):
        Message.decode(json.dumps(wire))


def test_callbacks_sent_twice_are_enqueued_once(broker: Broker) -> None:
    """A worker that dies after sending the callbacks and before settling: the parent runs
    again and sends the same ids, which the broker refuses."""
    parent = canvas_tasks.add.signature((1, 2), link=canvas_tasks.add.s(10)).message("p1")
    delivery = Delivery("p1", "default", parent.encode(), "tok", datetime.now(UTC))
    done = TaskStatus(id="p1", task="cv.add", state=TaskState.SUCCESS, attempts=1, result=3)
    pending = Pending(Settlement(delivery, ACK, done), ("succeeded",))
    send_callbacks(broker, [pending])
    send_callbacks(broker, [pending])
    stats = {s.name: s.ready for s in broker.queue_stats()}
    assert stats == {"default": 1}
    claimed = broker.claim_many(["default"], "c1", timedelta(seconds=30), timedelta(0), 10)
    assert [Message.decode(d.payload).args for d in claimed] == [(3, 10)]


def test_a_non_signature_is_refused_with_what_was_expected_and_what_came() -> None:
    step = signature("t.add", (1, 1))
    with pytest.raises(TypeError, match=r"^chain: expected signatures, got int$"):
        chain(step, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^group: expected signatures, got str$"):
        group([step, "t.add"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^chord: the body must be a signature, got str$"):
        chord([step], "t.add")  # type: ignore[arg-type]
