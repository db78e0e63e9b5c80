# ruff: noqa: E501  (tables of exact messages read better unwrapped)
"""start:/end: on every kind, jitter: and solar: through schedules.yaml, validate_entry (the
SQL source and EntryStore path), beat list's finished entries, and the dispatcher's eta."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beat.cli.render import render_list
from beat.config import load_config, validate_entry
from beat.config.serialise import entry_to_mapping
from beat.dispatch import Dispatcher
from beat.entries import Entry
from beat.errors import ConfigError
from beat.planner import Fire, first_state, plan_entry, upcoming
from beat.time.jitter import jitter_delay
from taskqueue.message import Message, decode_payload, fire_id

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 5, tzinfo=UTC)

KINDS = {
    "cron": {"cron": "0 12 * * *"},
    "every": {"every": "1d", "start": "2026-02-01T12:00:00Z"},
    "calendar": {"calendar": {"every": "1d", "at": "12:00", "start": "2026-01-01"}},
    "solar": {"solar": {"event": "solar_noon", "lat": 0, "lon": 0}},
}


def _entry(mapping: dict[str, object], defaults: dict[str, object] | None = None) -> Entry:
    return validate_entry("e", {"task": "t", **mapping}, zone=UTC_ZONE, defaults=defaults or {})


def _fires(entry: Entry, after: datetime, until: datetime) -> list[datetime]:
    out = []
    for fire in entry.schedule.iter_after(after):
        if fire > until:
            break
        out.append(fire)
    return out


@pytest.mark.parametrize("kind", list(KINDS))
def test_no_fire_before_start_or_after_end(kind: str) -> None:
    bounds = (
        {"end": END.isoformat()}
        if kind == "every"
        else {"start": START.isoformat(), "end": END.isoformat()}
    )
    entry = _entry({**KINDS[kind], **bounds})
    unbounded = _entry(KINDS[kind])
    lo, hi = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    fires = _fires(entry, lo, hi)
    everything = _fires(unbounded, lo, hi)
    first = START if kind != "every" else datetime(2026, 2, 1, 12, tzinfo=UTC)
    assert fires == [f for f in everything if first <= f <= END]
    assert fires and fires[-1] <= END
    # The planner (catch-up over the whole range) honours the bounds too.
    state = first_state(entry, lo, None)
    plan = plan_entry(entry, state, hi)
    sent = [f.scheduled_for for f in plan.fires]
    assert all(first <= f <= END for f in sent)
    assert plan.next_fire is None
    assert list(upcoming(entry, first_state(entry, hi, None))) == []


def test_start_and_end_bound_a_one_off() -> None:
    inside = _entry(
        {"at": "2026-03-02T00:00:00Z", "start": START.isoformat(), "end": END.isoformat()}
    )
    outside = _entry({"at": "2026-03-06T00:00:00Z", "end": END.isoformat()})
    assert inside.schedule.next_after(START) == datetime(2026, 3, 2, tzinfo=UTC)
    assert outside.schedule.next_after(START) is None


def test_bounds_round_trip_through_the_yaml_form() -> None:
    for kind in KINDS:
        entry = _entry({**KINDS[kind], "end": END.isoformat(), "jitter": "30s"})
        again = _entry(entry_to_mapping(entry))
        assert again.content_hash() == entry.content_hash()
        assert again.schedule.describe() == entry.schedule.describe()


def test_list_shows_an_entry_past_its_end_as_finished(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        "entries:\n"
        "  done:\n    task: t\n    cron: '0 * * * *'\n    end: 2026-01-01T00:00:00Z\n"
        "  live:\n    task: t\n    cron: '0 * * * *'\n    end: 2099-01-01T00:00:00Z\n"
    )
    config = load_config(path)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows = {r["name"]: r for r in json.loads(render_list(config, {}, now, as_json=True))}
    assert rows["done"]["finished"] is True and rows["done"]["next_fire"] is None
    assert rows["live"]["finished"] is False
    text = render_list(config, {}, now, as_json=False)
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("done")] == [
        "finished"
    ]


# --- jitter ----------------------------------------------------------------------------------


def _expected_delay(fid: str, jitter: timedelta) -> timedelta:
    """The documented rule, restated: blake2b-64 of the fire id as a fraction of jitter."""
    fraction = int.from_bytes(hashlib.blake2b(fid.encode(), digest_size=8).digest(), "big")
    return timedelta(microseconds=(jitter // timedelta(microseconds=1)) * fraction // (1 << 64))


def test_jitter_delay_is_in_range_spread_and_the_documented_hash() -> None:
    jitter = timedelta(seconds=30)
    delays = [jitter_delay(f"e@{ms}", jitter) for ms in range(0, 2_000_000, 1000)]
    assert all(timedelta(0) <= d < jitter for d in delays)
    assert len(set(delays)) > 1900
    assert max(delays) > timedelta(seconds=29) and min(delays) < timedelta(seconds=1)
    assert all(
        jitter_delay(f"e@{ms}", jitter) == _expected_delay(f"e@{ms}", jitter)
        for ms in range(0, 50_000, 1000)
    )


def test_jitter_is_the_same_in_another_process_with_another_hash_seed() -> None:
    code = "from datetime import timedelta; from beat.time.jitter import jitter_delay; print(jitter_delay('nightly@1767225600000', timedelta(seconds=30)).total_seconds())"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2", "random")
    }  # fmt: skip
    assert outputs == {
        f"{jitter_delay('nightly@1767225600000', timedelta(seconds=30)).total_seconds()}\n"
    }


def test_dispatcher_moves_only_the_eta() -> None:
    entry = _entry({"every": "1m", "start": "2026-01-01T00:00:00Z", "jitter": "30s"})
    when = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    fid = fire_id("e", when)
    encoded = Dispatcher().encode(entry, Fire("e", when, fid), when)
    message = decode_payload(encoded.payload)
    assert isinstance(message, Message)
    delay = _expected_delay(fid, timedelta(seconds=30))
    assert delay > timedelta(0)
    assert encoded.id == fid and encoded.eta == when + delay
    assert message.id == fid
    assert message.headers.scheduled_for == when
    assert message.eta == when + delay


def test_jitter_in_defaults_and_turned_off_per_entry() -> None:
    assert _entry({"cron": "* * * * *"}, {"jitter": "10s"}).jitter == timedelta(seconds=10)
    assert _entry({"cron": "* * * * *", "jitter": 0}, {"jitter": "10s"}).jitter == timedelta(0)
    plain = _entry({"cron": "* * * * *"})
    # Entries without jitter keep the content hash they had before jitter existed.
    assert plain.content_hash() == _entry({"cron": "* * * * *", "jitter": "0s"}).content_hash()


def test_list_shows_the_jittered_send_time(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text("entries:\n  j:\n    task: t\n    cron: '0 * * * *'\n    jitter: 10m\n")
    config = load_config(path)
    now = datetime(2026, 6, 1, 0, 30, tzinfo=UTC)
    (row,) = json.loads(render_list(config, {}, now, as_json=True))
    nominal = datetime(2026, 6, 1, 1, tzinfo=UTC)
    assert row["next_fire"] == nominal.isoformat()
    delay = _expected_delay(fire_id("j", nominal), timedelta(minutes=10))
    assert row["next_send"] == (nominal + delay).isoformat()


# --- validation, the same through every door ----------------------------------------------------


def test_yaml_problems_name_file_line_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        "defaults:\n"
        "  jitter: soon\n"
        "entries:\n"
        "  a:\n"
        "    task: t\n"
        "    solar: {event: sunrize, lat: 95, lon: 13.4, alt: 3}\n"
        "  b:\n"
        "    task: t\n"
        "    solar: {event: sunset}\n"
        "  c:\n"
        "    task: t\n"
        "    cron: '0 * * * *'\n"
        "    start: 2026-03-05T00:00:00Z\n"
        "    end: 2026-03-01T00:00:00Z\n"
        "  d:\n"
        "    task: t\n"
        "    every: 1h\n"
        "    end: next week\n"
        "    jitter: -5s\n"
        "  e:\n"
        "    task: t\n"
        "    solar: sunrise\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    found = [(p.file == str(path), p.line, p.path, p.message) for p in info.value.problems]
    assert found == [
        (True, 2, "defaults.jitter", "'soon' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (True, 6, "entries.a.solar", "unknown key 'alt' (did you mean 'lat'?)"),
        (
            True,
            6,
            "entries.a.solar.event",
            "expected one of dawn_astronomical, dawn_nautical, dawn_civil, sunrise, solar_noon, sunset, dusk_civil, dusk_nautical, dusk_astronomical, got the string 'sunrize' (did you mean 'sunrise'?)",
        ),
        (True, 6, "entries.a.solar.lat", "expected degrees between -90 and 90, got the number 95"),
        (True, 9, "entries.b.solar", "missing required key 'lat' (e.g. lat: 52.52)"),
        (True, 9, "entries.b.solar", "missing required key 'lon' (e.g. lon: 13.40)"),
        (
            True,
            14,
            "entries.c.end",
            "2026-03-01T00:00:00+00:00 is before start 2026-03-05T00:00:00+00:00: the entry would never fire",
        ),
        (
            True,
            18,
            "entries.d.end",
            "expected a date-time like 2026-01-01T00:00:00Z, got the string 'next week'",
        ),
        (True, 19, "entries.d.jitter", "'-5s' must be positive"),
        (
            True,
            22,
            "entries.e.solar",
            "expected a mapping {event, lat, lon}, got the string 'sunrise'",
        ),
    ]


def test_validate_entry_gives_the_same_messages_without_lines() -> None:
    with pytest.raises(ConfigError) as info:
        validate_entry(
            "a",
            {"task": "t", "solar": {"event": "sunrize", "lat": 95, "lon": 13.4}, "jitter": "x"},
            zone=UTC_ZONE,
            defaults={},
        )
    found = [(p.line, p.path, p.message.split(",")[0]) for p in info.value.problems]
    assert found == [
        (None, "entries.a.solar.event", "expected one of dawn_astronomical"),
        (None, "entries.a.solar.lat", "expected degrees between -90 and 90"),
        (None, "entries.a.jitter", "'x' is not a duration (e.g. 500ms"),
    ]
