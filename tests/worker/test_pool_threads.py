"""The thread pool: results, soft limit by async exception, hard limit abandons the thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pool_tasks  # noqa: F401  (registers the pool.* and t.* tasks)
import pytest

from tests.worker.pool_jobs import collect, job
from worker.errors import PoolError
from worker.pool import Job, Outcome, OutcomeKind
from worker.pools import make_pool
from worker.threads import ThreadPool


def run(pool: ThreadPool, j: Job) -> Outcome:
    pool.submit(j)
    (outcome,) = collect(pool, 1)
    assert outcome.job_id == j.id
    return outcome


@pytest.fixture
def pool() -> Iterator[ThreadPool]:
    p = ThreadPool(2, max_abandoned=1)
    p.start()
    yield p
    p.stop(0.2)


def test_results_failures_and_slots(pool: ThreadPool) -> None:
    assert pool.wait(0.0) == []
    slow = [job("pool.sleep", 0.2) for _ in range(2)]
    for j in slow:
        pool.submit(j)
    assert pool.free_slots() == 0
    with pytest.raises(PoolError, match="no free thread"):
        pool.submit(job("t.noop"))
    assert {o.job_id for o in collect(pool, 2)} == {j.id for j in slow}
    ok, bad = job("t.add", 2, 3), job("pool.fail", "boom")
    pool.submit(ok)
    pool.submit(bad)
    by_id = {o.job_id: o for o in collect(pool, 2)}
    assert (by_id[ok.id].kind, by_id[ok.id].result) == (OutcomeKind.SUCCESS, 5)
    assert (by_id[bad.id].error, by_id[bad.id].exc_type) == ("Boom: boom", "pool_tasks.Boom")
    assert pool.free_slots() == 2
    odd = run(pool, job("pool.bad_result"))
    assert (odd.error or "").startswith("result is not JSON serialisable")


def test_soft_limit_is_raised_in_the_task_thread(pool: ThreadPool, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    outcome = run(pool, job("pool.soft_cleanup", str(marks), soft=0.2, hard=5))
    assert outcome.kind is OutcomeKind.SOFT_TIME_LIMIT
    assert outcome.error == "soft time limit (0.2s) exceeded"
    (cleanup,) = marks.read_text().splitlines()
    assert 0.18 <= float(cleanup.split()[1]) < 0.3  # the task's clock starts after the limit's
    caught = run(pool, job("pool.catch_soft_and_return", soft=0.1))
    assert (caught.kind, caught.result) == (OutcomeKind.SUCCESS, "cleaned up")


def test_hard_limit_abandons_the_thread_and_the_pool_goes_on(
    pool: ThreadPool, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    started = time.monotonic()
    outcome = run(pool, job("pool.swallow_then_block", str(marks), soft=0.1, hard=0.4))
    assert outcome.kind is OutcomeKind.TIME_LIMIT
    assert outcome.exc_type == "worker.errors.TimeLimitExceeded"
    assert 0.4 <= time.monotonic() - started < 0.6
    assert marks.read_text().splitlines() == ["swallowed"]
    assert pool.abandoned_alive == 1 and not pool.needs_restart()
    # two slot threads (one a replacement) plus the abandoned one, still blocked
    assert sum(t.is_alive() for t in pool._threads) == 3
    # Both slots still serve jobs.
    outcomes = []
    for _ in range(2):
        pool.submit(job("pool.sleep", 0.2))
    outcomes = collect(pool, 2)
    assert all(o.kind is OutcomeKind.SUCCESS for o in outcomes)
    # A second abandoned thread exceeds max_abandoned=1: the process needs a restart.
    second = run(pool, job("pool.swallow_then_block", str(marks), soft=0.05, hard=0.2))
    assert second.kind is OutcomeKind.TIME_LIMIT
    assert pool.abandoned_alive == 2 and pool.needs_restart()


def test_abandoned_thread_that_ends_is_not_reported_and_frees_its_count(
    pool: ThreadPool,
) -> None:
    outcome = run(pool, job("pool.sleep", 0.5, hard=0.2))
    assert outcome.kind is OutcomeKind.TIME_LIMIT
    assert pool.abandoned_alive == 1
    time.sleep(0.5)
    assert pool.wait(0.1) == []  # the late success is discarded
    assert pool.abandoned_alive == 0


def test_stop_returns_unfinished_jobs() -> None:
    pool = make_pool("threads", 2, modules=[])
    assert isinstance(pool, ThreadPool)
    pool.start()
    busy = job("pool.sleep", 5)
    pool.submit(busy)
    time.sleep(0.05)
    started = time.monotonic()
    assert [j.id for j in pool.stop(0.3)] == [busy.id]
    assert time.monotonic() - started < 1.0
    assert pool.free_slots() == 0
