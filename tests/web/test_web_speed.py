"""What keeps every page fast with many entries (issue 16), asserted by what is computed and
kept, never by a clock: the timeline is reused, not recomputed, while no entry can change it
(and is the same answer a fresh dashboard computes), and the app fills its caches and freezes
them out of the garbage collector's walk before it serves."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import beat.views.entries as views
from beat.config import load_config
from beat.entries import Entry
from beat.planner import first_state
from beat.state import StateStore
from beat.state_rows import EntryState
from beat.web.dashboard import Dashboard

NOW = datetime.now(UTC).replace(microsecond=0)


def _setup(tmp_path: Path, *, indexed: bool) -> Dashboard:
    """Entries that fire every few minutes (a 10-fire timeline is cut: `more`); with
    ``indexed`` every entry has its run state, as a beat leaves it."""
    config = tmp_path / "schedules.yaml"
    lines = ["timezone: UTC", f"broker: sqlite:///{tmp_path / 'queue.db'}", "entries:"]
    lines += [f'  c{i}: {{task: t, cron: "*/{3 + i} * * * *"}}' for i in range(5)]
    lines += [f"  i{i}: {{task: t, every: {100 + i}s}}" for i in range(5)]
    config.write_text("\n".join(lines) + "\n")
    store = StateStore(str(tmp_path / "schedule.db"))
    if indexed:
        seen = NOW - timedelta(hours=1)
        store.upsert_new([first_state(e, seen, None) for e in load_config(config).entries.values()])
    store.close()
    return Dashboard(config, str(tmp_path / "schedule.db"))


def test_the_timeline_is_reused_while_no_entry_can_change_it(tmp_path: Path) -> None:
    dashboard = _setup(tmp_path, indexed=True)
    first = dashboard.timeline(NOW, 24, 10)
    assert first["more"] and len(first["fires"]) == 10
    later = NOW + timedelta(minutes=10)  # past the 5 s reuse of a polling page
    again = dashboard.timeline(later, 24, 10)
    # Same states, every entry indexed: its fires do not depend on the time asked, so the
    # 10 first of the longer window are the same: kept, not recomputed ...
    assert again["fires"] is first["fires"]
    assert again["start"] == later.isoformat()
    # ... and the answer a dashboard computing it afresh gives.
    assert again == Dashboard(dashboard.config_path, dashboard.state_location).timeline(
        later, 24, 10
    )


def test_a_kept_timeline_follows_the_fires_a_beat_records(tmp_path: Path) -> None:
    """A beat fires some entries: their fires are recomputed in the kept timeline, and it is
    the answer a dashboard computing it afresh gives."""
    from beat.state import FireRecord
    from taskqueue.message import fire_id

    dashboard = _setup(tmp_path, indexed=True)
    first = dashboard.timeline(NOW, 24, 10)
    store = StateStore(dashboard.state_location)
    for step in range(6):  # past the kept spare fires: computed afresh once
        # The three first fires of the timeline are sent (their last fire moves on) ...
        sent = [(f["entry"], datetime.fromisoformat(f["utc"])) for f in first["fires"][:3]]
        at = NOW + timedelta(minutes=step + 1)
        store.record_fires(sent, at, [FireRecord(n, t, fire_id(n, t), "sent") for n, t in sent])
        first = dashboard.timeline(at, 24, 10)
        # ... and the timeline shows them no more, as a fresh dashboard's does.
        fresh = Dashboard(dashboard.config_path, dashboard.state_location).timeline(at, 24, 10)
        assert first == fresh and first["more"]
        assert not {(n, t.isoformat()) for n, t in sent} & {
            (f["entry"], f["utc"]) for f in first["fires"]
        }
    store.close()


def test_a_timeline_of_entries_not_yet_indexed_follows_the_clock(tmp_path: Path) -> None:
    """An entry without run state fires from "now" (its first sight): not reused."""
    dashboard = _setup(tmp_path, indexed=False)
    dashboard.timeline(NOW, 24, 10)
    later = NOW + timedelta(minutes=10)
    fresh = Dashboard(dashboard.config_path, dashboard.state_location)
    assert dashboard.timeline(later, 24, 10) == fresh.timeline(later, 24, 10)


def test_the_app_fills_its_caches_before_it_serves(tmp_path: Path) -> None:
    from beat.web.app import build_app
    from beat.web.settings import WebSettings

    dashboard = _setup(tmp_path, indexed=True)
    app = build_app(WebSettings(), dashboard, sample_seconds=60)
    gc.unfreeze()

    async def start() -> None:
        async with app.router.lifespan_context(app):
            # No request yet: the configuration, run state and timeline are there ...
            assert dashboard._loaded is not None and dashboard._timeline._kept is not None
            assert "states" in dashboard._read and "pauses" in dashboard._read
            # ... and out of the cyclic collector's walk.
            assert gc.get_freeze_count() > 0

    try:
        asyncio.run(start())
    finally:
        gc.unfreeze()


def test_a_broker_that_does_not_answer_does_not_keep_the_app_from_starting(
    tmp_path: Path,
) -> None:
    from beat.web.app import build_app
    from beat.web.settings import WebSettings

    indexed = _setup(tmp_path, indexed=True)
    # Nothing listens on port 1: every page that reads the broker fails in the warm-up.
    dashboard = Dashboard(indexed.config_path, indexed.state_location, "redis://127.0.0.1:1/0")
    app = build_app(WebSettings(), dashboard, sample_seconds=60)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            assert dashboard._loaded is not None  # what does not need the broker is warm
            assert dashboard._timeline._kept is not None

    try:
        asyncio.run(start())
    finally:
        gc.unfreeze()


def test_the_entries_page_plans_each_entry_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list's next fire and its DST note come from one planning per shown entry (it was
    planned twice: once for the row, once more for the note)."""
    dashboard = _setup(tmp_path, indexed=True)
    expected = dashboard.entries("", 0, 100, NOW)["entries"]
    planned: list[str] = []
    real = views.upcoming

    def counting(entry: Entry, state: EntryState) -> Iterator[datetime]:
        planned.append(entry.name)
        return real(entry, state)

    monkeypatch.setattr(views, "upcoming", counting)
    rows = dashboard.entries("", 0, 100, NOW)["entries"]
    assert rows == expected and len(rows) == 10
    assert sorted(planned) == sorted(row["name"] for row in rows)
    assert all(row["next_note"] is None for row in rows)  # UTC: no DST edge
