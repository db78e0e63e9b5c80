"""parent_id/root_id (issue 14 item 4/7): set in the message for calls made inside a task,
chain steps, link/link_error callbacks and chord bodies; read on ``self.request``. Real
worker processes on both brokers."""

from __future__ import annotations

import lineage_tasks as lt
import pytest

from tests.worker.conftest import StartWorker
from worker import TaskResult, chain, chord


@pytest.fixture
def worker(producer: str, start_worker: StartWorker) -> str:
    start_worker(producer, "-A", "lineage_tasks", "-c", "2")
    return producer


def test_a_top_level_call_is_its_own_root(worker: str) -> None:
    r = lt.who.delay()
    assert r.get(timeout=15) == [r.id, None, r.id]


@pytest.mark.parametrize("spawner", [lt.spawn, lt.plain], ids=["bound", "plain"])
def test_a_call_from_inside_a_task_names_it_parent_and_keeps_its_root(
    worker: str, spawner: object
) -> None:
    parent = spawner.delay()  # type: ignore[attr-defined]
    child_id = parent.get(timeout=15)
    assert TaskResult(child_id).get(timeout=15) == [child_id, parent.id, parent.id]


def test_chain_steps_and_links_name_their_parent_and_the_first_as_root(worker: str) -> None:
    first, second, third = lt.who.si(), lt.who.si(), lt.who.si()
    first_id, second_id = first.freeze(), second.freeze()
    last = chain(first, second, third).apply_async()
    assert TaskResult(second_id).get(timeout=15) == [second_id, first_id, first_id]
    assert last.get(timeout=15) == [last.id, second_id, first_id]
    linked = lt.who.apply_async(link=lt.who.si())
    linked.get(timeout=15)
    assert TaskResult(f"{linked.id}:link:0").get(timeout=15) == [
        f"{linked.id}:link:0",
        linked.id,
        linked.id,
    ]


def test_a_chord_body_names_the_member_that_completed_it(worker: str) -> None:
    member = lt.who.si()
    member_id = member.freeze()
    body = chord([member], lt.who.si()).apply_async()
    assert body.get(timeout=15) == [body.id, member_id, member_id]


def test_threads_pool_calls_name_their_own_task(producer: str, start_worker: StartWorker) -> None:
    """Several tasks run in one process: each call names the task of its own thread."""
    start_worker(producer, "-A", "lineage_tasks", "-P", "threads", "-c", "4")
    parents = [lt.spawn.delay() for _ in range(4)]
    for parent in parents:
        child_id = parent.get(timeout=15)
        assert TaskResult(child_id).get(timeout=15) == [child_id, parent.id, parent.id]
