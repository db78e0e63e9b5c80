"""The dashboard shows the fires the beat will send (issue 16): a paused entry (``beat pause``,
``pause_on_failure``) has no fires on the 24-hour timeline nor in its next fires until it is
resumed, and then only those after its resume instant; a disabled one has none. The pause is
written through the real run-state store (SQLite), as ``beat pause`` writes it, and the kept
timeline (:mod:`beat.web.timeline`) follows it as a dashboard computing it afresh does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from beat.config import load_config
from beat.planner import first_state
from beat.state import StateStore
from beat.web.dashboard import Dashboard

NOW = datetime.now(UTC).replace(microsecond=0)


def _setup(tmp_path: Path) -> Dashboard:
    """Entries every few minutes, each with its run state as a beat that first saw them at
    NOW leaves it, and one disabled entry."""
    config = tmp_path / "schedules.yaml"
    lines = ["timezone: UTC", f"broker: sqlite:///{tmp_path / 'queue.db'}", "entries:"]
    lines += [f'  c{i}: {{task: t, cron: "*/{3 + i} * * * *"}}' for i in range(4)]
    lines += ["  tick: {task: t, every: 2m}", "  dormant: {task: t, every: 1m, enabled: false}"]
    config.write_text("\n".join(lines) + "\n")
    store = StateStore(str(tmp_path / "schedule.db"))
    store.upsert_new([first_state(e, NOW, None) for e in load_config(config).entries.values()])
    store.close()
    return Dashboard(config, str(tmp_path / "schedule.db"))


def _set_pause(dashboard: Dashboard, name: str, paused: bool, at: datetime) -> None:
    """``beat pause`` / ``beat resume`` at ``at``: the run state's own write."""
    store = StateStore(dashboard.state_location)
    try:
        store.set_pause(name, paused, "disk full" if paused else "", at)
    finally:
        store.close()


def _fresh(dashboard: Dashboard, now: datetime) -> dict:  # type: ignore[type-arg]
    return Dashboard(dashboard.config_path, dashboard.state_location).timeline(now, 24, 10)


def _entries_of(timeline: dict) -> set[str]:  # type: ignore[type-arg]
    return {f["entry"] for f in timeline["fires"]}


def test_a_paused_entry_leaves_the_kept_timeline_and_comes_back_after_its_resume(
    tmp_path: Path,
) -> None:
    dashboard = _setup(tmp_path)
    first = dashboard.timeline(NOW, 24, 10)
    assert "tick" in _entries_of(first) and "dormant" not in _entries_of(first)
    assert first["paused"] == []

    paused_at = NOW + timedelta(minutes=1)
    _set_pause(dashboard, "tick", True, paused_at)
    paused = dashboard.timeline(paused_at, 24, 10)
    assert "tick" not in _entries_of(paused) and "dormant" not in _entries_of(paused)
    since = paused_at.isoformat()
    assert paused["paused"] == [{"entry": "tick", "since": since, "note": "disk full"}]
    assert paused == _fresh(dashboard, paused_at)
    # Paused, it stays without fires however much later it is asked.
    assert "tick" not in _entries_of(_fresh(dashboard, NOW + timedelta(hours=3)))

    resumed_at = NOW + timedelta(minutes=3)
    _set_pause(dashboard, "tick", False, resumed_at)
    after = dashboard.timeline(resumed_at, 24, 10)
    assert after == _fresh(dashboard, resumed_at) and after["paused"] == []
    ticks = [datetime.fromisoformat(f["utc"]) for f in after["fires"] if f["entry"] == "tick"]
    # Back from its next scheduled instant after the resume (its phase from first seen): the
    # fire at NOW + 2 min, in the paused period, is not replayed.
    assert ticks[0] == NOW + timedelta(minutes=4)


def test_a_paused_or_disabled_entry_has_no_next_fires_on_its_pages(tmp_path: Path) -> None:
    dashboard = _setup(tmp_path)
    assert dashboard.entry_detail("tick", NOW)["next"]
    _set_pause(dashboard, "tick", True, NOW)
    detail = dashboard.entry_detail("tick", NOW)
    assert detail["next"] == [] and detail["paused"]["note"] == "disk full"
    assert dashboard.entry_detail("dormant", NOW)["next"] == []
    rows = {r["name"]: r for r in dashboard.entries("", 0, 100, NOW)["entries"]}
    assert rows["tick"]["next_fire"] is None and rows["tick"]["next_note"] is None
    _set_pause(dashboard, "tick", False, NOW + timedelta(seconds=30))
    fires = dashboard.entry_detail("tick", NOW + timedelta(seconds=30))["next"]
    assert fires and datetime.fromisoformat(fires[0]["utc"]) > NOW + timedelta(seconds=30)
