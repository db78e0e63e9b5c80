"""``overlap:`` with real processes: a 2.5 s task on an entry firing every second.

``skip``: never two runs at once, and the skipped fires are in ``beat history`` with the id
they waited on. ``buffer_one`` with two beats (the leader killed midway): never two runs at
once, and each run after the first starts as the one before it ends (the waiting fire)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from tests.daemon.conftest import StartBeat
from tests.ha.conftest import wait_for_leader
from tests.policies.conftest import beat_json
from tests.worker.conftest import StartWorker


@dataclass(frozen=True)
class Run:
    start: float
    end: float
    task_id: str  # the fire's id
    delivery: int  # 2 or more: the same fire delivered again (a lease ran out)


def runs(marks: Path) -> list[Run]:
    """Every finished run, in start order; a start and its end are paired by fire id and
    delivery, not by order, so interleaved runs are told apart."""
    starts: dict[tuple[str, int], float] = {}
    done: list[Run] = []
    for line in marks.read_text().splitlines():
        kind, at, task_id, delivery = line.split()
        key = (task_id, int(delivery))
        if kind == "start":
            starts[key] = float(at)
        elif key in starts:
            done.append(Run(starts.pop(key), float(at), *key))
    return sorted(done, key=lambda r: r.start)


def entry_config(
    tmp_path: Path, redis_url: str, overlap: str, start_worker: StartWorker
) -> tuple[Path, Path, Path]:
    """The entry's config with ``overlap``, and a worker of 4 started: (config, marks, state)."""
    marks = tmp_path / "marks"
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        f"broker: '{redis_url}'\n"
        "entries:\n"
        f"  e0: {{task: p.run, args: [2.5, '{marks}'], every: 1s, "
        f"start: 2026-01-01T00:00:00Z, overlap: {overlap}}}\n"
    )
    start_worker(redis_url, "-c", "4")
    return cfg, marks, tmp_path / "schedule.db"


def warnings(logs: Path) -> list[str]:
    """The beats' and workers' warnings and errors but the skips (a lost lease, a claim no
    longer ours: the broker lost what it held), to tell why two runs overlapped."""
    return [
        f"{log.name}: {line}"
        for log in sorted(logs.glob("*.log"))
        for line in log.read_text().splitlines()
        if (" WARNING " in line or " ERROR " in line) and "missed fire" not in line
    ]


def assert_never_concurrent(done: list[Run], logs: Path) -> None:
    for before, after in pairwise(done):
        assert after.start >= before.end - 0.05, (
            f"two runs at once: {before} and {after}: {done}; {warnings(logs)}"
        )


def test_skip_never_runs_twice_at_once_and_history_has_the_skips(
    tmp_path: Path, redis_url: str, start_beat: StartBeat, start_worker: StartWorker
) -> None:
    cfg, marks, state = entry_config(tmp_path, redis_url, "skip", start_worker)
    beat = start_beat(cfg, state, redis_url)
    beat.wait_for_log("fire e0")
    time.sleep(9)
    assert beat.stop() == 0
    time.sleep(3)  # the last run ends

    done = runs(marks)
    assert len(done) >= 2, done
    assert_never_concurrent(done, tmp_path)
    history = beat_json(cfg, state, "history", "e0", "-n", "30")
    skipped = [r for r in history if r["skipped"]]
    sent = [r for r in history if r["sent_at"]]
    assert len(skipped) >= 4, history
    assert all("overlap skip: waiting on e0@" in r["skipped"] for r in skipped)
    assert {r["skipped"].rsplit(" ", 1)[1] for r in skipped} <= {r["fire_id"] for r in sent}
    assert "skipped 1 missed fire" in beat.log() and "waiting on e0@" in beat.log()


def test_buffer_one_with_two_beats(
    tmp_path: Path, redis_url: str, start_beat: StartBeat, start_worker: StartWorker
) -> None:
    cfg, marks, state = entry_config(tmp_path, redis_url, "buffer_one", start_worker)
    a = start_beat(cfg, state, redis_url)
    b = start_beat(cfg, state, redis_url)
    leader = wait_for_leader([a, b])
    time.sleep(6)
    leader.kill9()  # the other beat takes over, with what waits read from the run state
    other = b if leader is a else a
    other.wait_for_log("leader: acquired lease")
    time.sleep(7)
    assert other.stop() == 0
    time.sleep(3)

    done = runs(marks)
    assert len(done) >= 4, done
    assert_never_concurrent(done, tmp_path)
    # The waiting fire starts as soon as the run before it ends (within a tick or so): the
    # entry is kept busy, unlike skip, which waits for the next scheduled instant.
    gaps = [after.start - before.end for before, after in pairwise(done)]
    assert sorted(gaps)[len(gaps) // 2] < 1.0, gaps
    history = beat_json(cfg, state, "history", "e0", "-n", "40")
    assert any(r["skipped"] and "waiting on" in r["skipped"] for r in history), history
