"""``overlap: skip | buffer_one`` fires are enqueued ahead (lookahead) when their entry's
previous fire is known to be over (none sent, or its task state final), as ``allow`` fires are;
only the others wait for their instant to be decided. In-process service, injected clock, real
Redis and SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from beat.config import load_config
from taskqueue.message import fire_id
from taskqueue.records import TaskState, TaskStatus
from tests.daemon.conftest import drain_url
from tests.policies.conftest import T0, lookahead_beat


def test_gated_fires_go_ahead_when_the_previous_one_is_over(tmp_path: Path, redis_url: str) -> None:
    skip_10s = "task: noop, every: 10s, overlap: skip"
    beat, broker, clock = lookahead_beat(tmp_path, redis_url, {"done": skip_10s, "busy": skip_10s})
    beat.start()  # first seen after T0: the first fires are at T0+10s
    clock.now = T0 + timedelta(seconds=8)
    assert beat.tick() == 2, "no previous fire: both are sent ahead of their instant"
    broker.set_status(TaskStatus("done@1767225610000", "noop", TaskState.SUCCESS, 1))

    clock.now = T0 + timedelta(seconds=18)
    assert beat.tick() == 1, "done's previous fire ended: its next goes ahead; busy's waits"
    clock.now = T0 + timedelta(seconds=20, milliseconds=1)
    assert beat.tick() == 0  # busy's fire is decided at its instant: its previous is queued
    beat.close()
    assert sorted(drain_url(redis_url)) == [
        "busy@1767225610000",
        "done@1767225610000",
        "done@1767225620000",
    ]


def test_a_held_fire_of_an_entry_indexed_again_is_dropped_not_decided_after_a_later_one(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every 1 s, 3 s lookahead: fire 1 sent ahead, fire 2 held (1 still queued). The entry is
    edited (indexed again at fire 2) and fire 1 ends: fire 2 goes ahead under the new
    definition. The held fire 2 is stale: it must not be skipped later "waiting on" the fire 2
    that was sent, nor leave the entry two held fires (fire 3 decided, and logged, twice)."""
    beat, broker, clock = lookahead_beat(
        tmp_path, redis_url, {"e": "task: noop, every: 1s, overlap: skip"}
    )
    beat.start()
    assert beat.tick() == 1  # fire 1 ahead (none before it); fire 2 held behind it
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(cfg.read_text().replace("task: noop", "task: noop, args: [1]"))
    clock.now = T0 + timedelta(milliseconds=500)
    beat.apply_config(load_config(cfg), clock.now)
    broker.set_status(
        TaskStatus(fire_id("e", T0 + timedelta(seconds=1)), "noop", TaskState.SUCCESS, 1)
    )
    clock.now = T0 + timedelta(milliseconds=1600)
    assert beat.tick() == 1  # fire 2 (indexed again) ahead: fire 1 is over; fire 3 held
    caplog.clear()
    for ms in (2000, 3000):
        clock.now = T0 + timedelta(milliseconds=ms)
        assert beat.tick() == 0
    skips = [r.getMessage() for r in caplog.records if "missed fire" in r.getMessage()]
    assert len(skips) == 1, skips  # fire 3, once; nothing of fire 2
    assert "from 2026-01-01T00:00:03+00:00" in skips[0], skips
    log = beat.store.fire_log("e", 10)
    beat.close()
    assert sorted(drain_url(redis_url)) == ["e@1767225601000", "e@1767225602000"]
    skipped = [(r.fire_id, r.reason) for r in log if r.outcome == "skipped"]
    assert skipped == [("e@1767225603000", "overlap skip: waiting on e@1767225602000")], log
