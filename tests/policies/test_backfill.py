"""``beat backfill``: the fires of a range with their ordinary ids, so a second run enqueues
nothing new; bounded; honouring overlap. The CLI runs as its own process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.daemon.conftest import StartBeat, drain_url
from tests.policies.conftest import beat_cli, beat_json


def config(tmp_path: Path, redis_url: str, extra: str = "") -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        f"broker: '{redis_url}'\n"
        "entries:\n"
        f"  hourly: {{task: noop, every: 1h, start: 2026-01-01T00:00:00Z{extra}}}\n"
        "  fast: {task: noop, every: 1s, start: 2026-01-01T00:00:00Z}\n"
    )
    return path


def test_backfill_twice_enqueues_each_fire_once(tmp_path: Path, redis_url: str) -> None:
    cfg, state = config(tmp_path, redis_url), tmp_path / "schedule.db"
    span = ("--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T05:00:00Z")
    dry = beat_json(cfg, state, "backfill", "hourly", *span, "--dry-run")
    assert dry["count"] == 6 and dry["fires"][0] == "hourly@1767225600000"
    assert beat_cli(cfg, state, "backfill", "hourly", *span) == "6 enqueued, 0 already enqueued\n"
    assert beat_json(cfg, state, "backfill", "hourly", *span) == {"enqueued": 0, "duplicates": 6}
    # In the fire log, so `beat history` shows them (each once, as the backfill's), queued.
    history = beat_json(cfg, state, "history", "hourly")
    assert [r["fire_id"] for r in history] == dry["fires"][::-1]
    assert {r["outcome"] for r in history} == {"sent (backfill)"}
    assert all(r["sent_at"] and r["state"] == "QUEUED" for r in history), history
    seen = drain_url(redis_url)
    assert sorted(seen) == sorted(dry["fires"]) and set(seen.values()) == {1}


def test_backfill_is_bounded(tmp_path: Path, redis_url: str) -> None:
    cfg, state = config(tmp_path, redis_url), tmp_path / "schedule.db"
    argv = [sys.executable, "-m", "beat", "-s", str(state), "backfill", "--config", str(cfg),
            "fast", "--from", "2026-01-01", "--to", "2026-01-02T00:00:00Z"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "fast: more than 10000 fires" in done.stderr and "--limit" in done.stderr
    assert drain_url(redis_url) == {}
    out = beat_json(cfg, state, "backfill", "fast", *argv[-4:], "--limit", "90000", "--dry-run")
    assert out["count"] == 86401


def test_backfill_honours_overlap_skip(tmp_path: Path, redis_url: str) -> None:
    cfg, state = config(tmp_path, redis_url, ", overlap: skip"), tmp_path / "schedule.db"
    span = ("--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T05:00:00Z")
    out = beat_cli(cfg, state, "backfill", "hourly", *span)
    assert out == (
        "1 enqueued, 0 already enqueued, 5 skipped "
        "(overlap skip: waiting on hourly@1767225600000)\n"
    )
    # The first is still queued: nothing more, whatever the range.
    again = beat_json(cfg, state, "backfill", "hourly", *span)
    assert again == {"enqueued": 0, "duplicates": 0, "skipped": 6}
    assert list(drain_url(redis_url)) == ["hourly@1767225600000"]


def test_the_leader_waits_on_a_backfilled_fire(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    """``overlap: skip``: a backfilled fire still queued (no worker) holds the leader's next
    fires back, as one the leader sent would; the leader learns of it from the fire log."""
    cfg, state = config(tmp_path, redis_url, ", overlap: skip"), tmp_path / "schedule.db"
    cfg.write_text(cfg.read_text().replace("every: 1h", "every: 1s"))
    beat_cli(cfg, state, "pause", "hourly")  # the leader sends nothing of its own yet
    beat = start_beat(cfg, state, redis_url)
    beat.wait_for_log("fire fast for")
    span = ("--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z")
    assert beat_json(cfg, state, "backfill", "hourly", *span) == {
        "enqueued": 1,
        "duplicates": 0,
        "skipped": 0,
    }
    beat_cli(cfg, state, "resume", "hourly")
    beat.wait_for_log("overlap skip: waiting on hourly@1767225600000")
    time.sleep(1.5)
    assert "fire hourly for" not in beat.log(), "sent while the backfilled fire is queued"
    assert beat.stop() == 0
