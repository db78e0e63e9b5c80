"""The prefork pool with real child processes: results, soft/hard limits, replacement."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pool_tasks  # noqa: F401  (registers the pool.* and t.* tasks in this process too)
import pytest

from tests.worker.pool_jobs import collect, job
from worker.errors import PoolError
from worker.pool import Job, Outcome, OutcomeKind
from worker.pools import make_pool
from worker.prefork import PreforkPool
from worker.registry import Task

TESTS_DIR = Path(__file__).parent


def run(pool: Any, j: Job, timeout: float = 15.0) -> Outcome:
    wait_free(pool)
    pool.submit(j)
    (outcome,) = collect(pool, 1, timeout)
    assert outcome.job_id == j.id
    return outcome


def wait_free(pool: Any, slots: int = 1, timeout: float = 15.0) -> None:
    """Replacements boot asynchronously: wait (collecting nothing) until slots are free."""
    deadline = time.monotonic() + timeout
    while pool.free_slots() < slots:
        assert time.monotonic() < deadline, "no free slot"
        assert pool.wait(0.05) == []


def gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` no longer exists (or is a zombie)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        time.sleep(0.02)
    return False


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def make() -> Iterator[Any]:
    pools: list[PreforkPool] = []

    def factory(concurrency: int = 1, **options: Any) -> PreforkPool:
        pool = PreforkPool(concurrency, modules=["pool_tasks"], **options)
        pools.append(pool)
        pool.start()
        return pool

    yield factory
    for pool in pools:
        pool.stop(0.5)


def child_pids(pool: PreforkPool) -> set[int]:
    return {c.pid for c in pool._children}


def test_results_failures_and_unserialisable_results(make: Any) -> None:
    pool = make(2)
    assert pool.free_slots() == 2
    ok, bad, odd = job("t.add", 2, 3), job("pool.fail", "boom"), job("pool.bad_result")
    for j in (ok, bad):
        pool.submit(j)
    assert pool.free_slots() == 0
    with pytest.raises(PoolError, match="no free process"):
        pool.submit(odd)
    by_id = {o.job_id: o for o in collect(pool, 2)}
    assert by_id[ok.id].kind is OutcomeKind.SUCCESS and by_id[ok.id].result == 5
    failed = by_id[bad.id]
    assert (failed.kind, failed.error, failed.exc_type) == (
        OutcomeKind.FAILURE,
        "Boom: boom",
        "pool_tasks.Boom",
    )
    assert failed.started_at is not None and failed.finished_at is not None
    assert failed.started_at.tzinfo is not None and failed.started_at <= failed.finished_at
    unserialisable = run(pool, odd)
    assert unserialisable.kind is OutcomeKind.FAILURE
    assert (unserialisable.error or "").startswith("result is not JSON serialisable: set")


def test_soft_limit_is_raised_in_the_task_which_cleans_up(make: Any, tmp_path: Path) -> None:
    pool = make()
    marks = tmp_path / "marks"
    started = time.monotonic()
    outcome = run(pool, job("pool.soft_cleanup", str(marks), soft=0.3, hard=5))
    assert outcome.kind is OutcomeKind.SOFT_TIME_LIMIT
    assert outcome.exc_type == "worker.errors.SoftTimeLimitExceeded"
    assert outcome.error == "soft time limit (0.3s) exceeded"
    (cleanup,) = lines(marks)
    assert cleanup.startswith("cleanup ")
    # Raised within tens of ms of the limit. The task's own clock starts a little after the
    # limit's (the job is received and decoded first), so it may read just under 0.3.
    assert 0.28 <= float(cleanup.split()[1]) < 0.35
    assert time.monotonic() - started < 2
    # A task that catches the soft limit and returns normally succeeds.
    caught = run(pool, job("pool.catch_soft_and_return", soft=0.1))
    assert (caught.kind, caught.result) == (OutcomeKind.SUCCESS, "cleaned up")


def test_parent_signal_delivers_the_soft_limit_when_a_task_takes_sigalrm(
    make: Any, tmp_path: Path
) -> None:
    pool = make()
    marks = tmp_path / "marks"
    started = time.monotonic()
    outcome = run(pool, job("pool.ignore_sigalrm", str(marks), soft=0.2, hard=5))
    assert outcome.kind is OutcomeKind.SOFT_TIME_LIMIT
    assert 0.2 <= time.monotonic() - started < 1.0
    assert lines(marks) == ["cleanup"]
    # The next job in the same process still gets its soft limit (parent signal only now).
    again = run(pool, job("pool.soft_cleanup", str(marks), soft=0.1, hard=5))
    assert again.kind is OutcomeKind.SOFT_TIME_LIMIT


@pytest.mark.parametrize("how", ["sleep", "select"])
def test_task_swallowing_the_soft_limit_is_killed_at_the_hard_limit(
    make: Any, tmp_path: Path, how: str
) -> None:
    pool = make()
    marks = tmp_path / "marks"
    (before,) = child_pids(pool)
    started = time.monotonic()
    outcome = run(pool, job("pool.swallow_then_block", str(marks), how, soft=0.2, hard=0.6))
    elapsed = time.monotonic() - started
    assert outcome.kind is OutcomeKind.TIME_LIMIT
    assert outcome.exc_type == "worker.errors.TimeLimitExceeded"
    assert f"process {before} killed" in (outcome.error or "")
    assert 0.6 <= elapsed < 1.5
    assert outcome.started_at and outcome.finished_at
    assert 0.59 <= (outcome.finished_at - outcome.started_at).total_seconds() < 0.7
    assert lines(marks) == ["swallowed"]
    assert gone(before)
    # The pool keeps serving: a new process runs the next job.
    after = run(pool, job("pool.pid"))
    assert after.kind is OutcomeKind.SUCCESS and after.result != before


def test_hard_limit_kills_the_whole_process_group(make: Any, tmp_path: Path) -> None:
    pool = make()
    pid_file = tmp_path / "pid"
    outcome = run(pool, job("pool.spawn_sleeper", str(pid_file), hard=0.5))
    assert outcome.kind is OutcomeKind.TIME_LIMIT
    sleeper = int(pid_file.read_text())
    assert gone(sleeper), f"sleep {sleeper} survived the hard limit"


def test_child_killed_by_signal_is_lost_and_replaced(make: Any) -> None:
    pool = make()
    (victim,) = child_pids(pool)
    j = job("pool.sleep", 30)
    pool.submit(j)
    time.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    (outcome,) = collect(pool, 1)
    assert (outcome.job_id, outcome.kind) == (j.id, OutcomeKind.LOST)
    assert outcome.exc_type == "worker.errors.WorkerLost"
    assert f"pool process {victim} died (killed by SIGKILL)" == outcome.error
    again = run(pool, job("pool.pid"))
    assert again.kind is OutcomeKind.SUCCESS and again.result != victim
    # An idle child dying is replaced too, with no outcome reported.
    (idle,) = child_pids(pool)
    os.kill(idle, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while idle in child_pids(pool):  # noticed as end of file by wait()
        assert time.monotonic() < deadline
        assert pool.wait(0.05) == []
    assert run(pool, job("t.add", 1, 1)).result == 2


def test_max_tasks_per_child_replaces_the_process(make: Any) -> None:
    pool = make(1, max_tasks_per_child=2)
    pids = [run(pool, job("pool.pid")).result for _ in range(6)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]
    assert len(set(pids)) == 3
    for pid in set(pids[:4]):
        assert gone(pid)


def test_max_memory_per_child_replaces_the_process(make: Any) -> None:
    # Limits far from a child's own footprint, so only the big job can cross them.
    pool = make(1, max_memory_per_child=400 * 1024)
    small = [run(pool, job("pool.hog", 1)).result for _ in range(2)]
    assert small[0] == small[1]  # under the limit: the same process goes on
    big = run(pool, job("pool.hog", 600)).result
    assert big == small[0]  # the job itself finishes...
    after = run(pool, job("pool.pid")).result
    assert after != big  # ...then the process is replaced


def test_recycle_finishes_running_jobs_and_loads_new_code(tmp_path: Path) -> None:
    module = f"recycled_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{module}.py"
    template = (
        "from worker.registry import task\n"
        "@task(name={name!r})\ndef v() -> str:\n    return {v!r}\n"
    )
    name = f"{module}.version"
    source.write_text(template.format(name=name, v="v1"))
    sys.path.insert(0, str(tmp_path))
    pool = PreforkPool(2, modules=["pool_tasks", module])
    try:
        pool.start()
        version = Task(name=name, fn=lambda: None)  # crosses by name: the child's code runs
        assert run(pool, Job("v1", version)).result == "v1"
        old = child_pids(pool)
        marks = tmp_path / "marks"
        running = [job("pool.sleep", 0.5, str(marks)) for _ in range(2)]
        for j in running:
            pool.submit(j)
        time.sleep(0.1)
        source.write_text(template.format(name=name, v="v2"))
        pool.recycle()
        outcomes = collect(pool, 2)
        assert sorted(o.job_id for o in outcomes) == sorted(j.id for j in running)
        assert all(o.kind is OutcomeKind.SUCCESS for o in outcomes)
        assert lines(marks).count("end") == 2
        wait_free(pool, 2)
        assert child_pids(pool).isdisjoint(old)
        assert run(pool, Job("v2", version)).result == "v2"
        assert all(gone(pid) for pid in old)
    finally:
        pool.stop(0.5)
        sys.path.remove(str(tmp_path))


def test_stop_returns_unfinished_jobs_and_ends_every_process(make: Any) -> None:
    pool = make(2)
    pids = child_pids(pool)
    busy = job("pool.sleep", 30)
    pool.submit(busy)
    time.sleep(0.1)
    started = time.monotonic()
    unfinished = pool.stop(1.0)
    assert time.monotonic() - started < 1.5
    assert [j.id for j in unfinished] == [busy.id]
    assert all(gone(pid, 1.0) for pid in pids)
    assert pool.free_slots() == 0


PARENT_SCRIPT = """
import sys, time
from worker.pool import Job
from worker.prefork import PreforkPool
from worker.registry import REGISTRY
import pool_tasks
pool = PreforkPool(2, modules=["pool_tasks"])
pool.start()
pool.submit(Job("busy", REGISTRY.get("pool.sleep"), (60,)))
print(" ".join(str(c.pid) for c in pool._children), flush=True)
time.sleep(60)
"""


def test_children_die_with_their_parent(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(TESTS_DIR.parent.parent)]),
    }
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_SCRIPT], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(not gone(pid, 0.1) for pid in pids)
        parent.kill()
        parent.wait(5)
        # the busy child (PR_SET_PDEATHSIG) and the idle one (end of file) both end
        assert all(gone(pid) for pid in pids), pids
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_task_module_that_cannot_be_imported_fails_start() -> None:
    pool = PreforkPool(1, modules=["pool_tasks", "no_such_module_for_the_pool"], boot_timeout=20)
    with pytest.raises(PoolError, match="no_such_module_for_the_pool") as info:
        pool.start()
    assert "ModuleNotFoundError" in str(info.value)
    assert pool._children == []  # a failed start leaves no process behind
    assert pool.stop(0.1) == []


def test_make_pool_validates_kind_and_concurrency() -> None:
    with pytest.raises(PoolError, match="'forks'"):
        make_pool("forks", 1, modules=[])
    with pytest.raises(PoolError, match="concurrency"):
        make_pool("prefork", 0, modules=[])
    assert isinstance(make_pool("prefork", 1, modules=[]), PreforkPool)
