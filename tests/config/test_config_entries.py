# ruff: noqa: E501  (tables of exact messages read better unwrapped)
"""validate_entry (plain mappings, as from the SQL source) and entry_to_mapping round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from beat.config import entry_to_mapping, load_config, validate_entry
from beat.entries import CatchUp
from beat.errors import ConfigError, Problem

BERLIN = ZoneInfo("Europe/Berlin")


def test_validate_entry_plain_mapping() -> None:
    entry = validate_entry(
        "nightly",
        {"task": "report", "cron": "30 2 * * *", "args": [1], "options": {"expires": "1h"}},
        zone=BERLIN,
        defaults={"queue": "reports", "grace": "5m"},
        source="postgresql://db/beat",
    )
    assert entry.name == "nightly"
    assert entry.queue == "reports"
    assert entry.grace == timedelta(minutes=5)
    assert entry.options.expires == timedelta(hours=1)
    assert entry.schedule.zone == BERLIN
    assert entry.source == "postgresql://db/beat"


def test_validate_entry_same_messages_without_lines() -> None:
    with pytest.raises(ConfigError) as info:
        validate_entry(
            "bad",
            {"task": "t", "evry": "30s", "cron": "60 * * * *", "grace": "x"},
            zone=BERLIN,
            defaults={},
            file="postgresql://db/beat",
        )
    assert info.value.problems == [
        Problem("postgresql://db/beat", None, "entries.bad", "unknown key 'evry' (did you mean 'every'?)"),
        Problem("postgresql://db/beat", None, "entries.bad.cron", "minute: 60 is out of range 0-59"),
        Problem("postgresql://db/beat", None, "entries.bad.grace",
                "'x' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
    ]  # fmt: skip
    assert str(info.value.problems[0]) == (
        "postgresql://db/beat: entries.bad: unknown key 'evry' (did you mean 'every'?)"
    )


def test_validate_entry_rejects_bad_name_and_non_mapping() -> None:
    with pytest.raises(ConfigError) as info:
        validate_entry("a b", "cron", zone=BERLIN, defaults={})  # type: ignore[arg-type]
    assert [p.message for p in info.value.problems] == [
        "invalid entry name 'a b': use 1-200 letters, digits and _ . : @ -",
        "expected a mapping of entry settings, got the string 'cron'",
    ]


def test_validate_entry_accepts_config_defaults(tmp_path: Path) -> None:
    """Config.defaults (already parsed) is accepted back, as the SQL source passes it."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text("defaults: {queue: q, grace: 5m, catch_up: none, options: {expires: 1h}}\n")
    config = load_config(cfg)
    entry = validate_entry("a", {"task": "t", "every": "1m"}, zone=BERLIN, defaults=config.defaults)
    assert (entry.queue, entry.grace, entry.catch_up) == ("q", timedelta(minutes=5), CatchUp.NONE)
    assert entry.options.expires == timedelta(hours=1)


SAMPLE = """\
timezone: Europe/Berlin
defaults: {queue: bulk, grace: 90s, options: {retry_backoff: 2s}}
entries:
  cron: {task: t, cron: "30 2 * * *", timezone: America/New_York, args: [1, "x", null, 2.5]}
  hashed: {task: t, cron: "H H * * *"}
  every: {task: t, every: 1h30m, kwargs: {a: {b: [true]}}}
  anchored: {task: t, every: 1.5ms, start: 2026-01-01T00:00:00Z, catch_up: all}
  calendar: {task: t, calendar: {every: 3mo, at: "09:30:15", start: 2026-01-31}}
  once-local: {task: t, at: "2026-03-29T02:30"}
  once-utc: {task: t, at: 2026-12-01T09:00:00Z, enabled: false}
  options:
    task: t
    every: 1m
    options: {priority: 0, expires: 1d, soft_time_limit: 1s, time_limit: 1s, max_retries: 0,
              retry_backoff_max: 1w}
"""


def test_round_trip_every_kind(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(SAMPLE)
    config = load_config(cfg)
    assert len(config.entries) == 8
    for name, entry in config.entries.items():
        mapping = entry_to_mapping(entry)
        # JSON- and YAML-safe (`beat config` prints it both ways), and read back identically.
        text = yaml.safe_dump(json.loads(json.dumps(mapping)))
        again = validate_entry(name, yaml.safe_load(text), zone=ZoneInfo("UTC"), defaults={})
        assert again == entry, name
        assert again.content_hash() == entry.content_hash(), name


def test_mapping_is_explicit() -> None:
    entry = validate_entry(
        "a", {"task": "t", "every": "90s"}, zone=BERLIN, defaults={"options": {"priority": 3}}
    )
    assert entry_to_mapping(entry) == {
        "task": "t",
        "every": "1m30s",
        "timezone": "Europe/Berlin",
        "queue": "default",
        "options": {"priority": 3},
        "catch_up": "latest",
        "grace": "1m",
        "enabled": True,
    }


def test_once_local_round_trip_keeps_the_instant() -> None:
    entry = validate_entry("a", {"task": "t", "at": "2026-03-29T02:30"}, zone=BERLIN, defaults={})
    # 02:30 does not exist in Berlin on 2026-03-29: the fixed-time rule gives the change, 01:00Z.
    assert entry.schedule.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )
    assert entry_to_mapping(entry)["at"] == "2026-03-29T01:00:00+00:00"


durations = st.timedeltas(min_value=timedelta(milliseconds=1), max_value=timedelta(days=3650))


@st.composite
def entries_mappings(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["cron", "every", "calendar", "at"]))
    data: dict[str, Any] = {"task": draw(st.from_regex(r"[a-z][a-z0-9_.]{0,20}", fullmatch=True))}
    if kind == "cron":
        data["cron"] = draw(
            st.sampled_from(["* * * * *", "30 2 * * *", "0 9 L * *", "H */2 * * 1-5"])
        )
    elif kind == "every":
        data["every"] = draw(durations)
        if draw(st.booleans()):
            data["start"] = draw(st.datetimes(timezones=st.just(UTC))).isoformat()
    elif kind == "calendar":
        data["calendar"] = {
            "every": f"{draw(st.integers(1, 30))}{draw(st.sampled_from(['d', 'w', 'mo', 'y']))}",
            "at": f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}",
            "start": draw(st.dates()).isoformat(),
        }
    else:
        data["at"] = draw(st.datetimes()).isoformat()
    data["timezone"] = draw(
        st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])
    )
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
        ),
        max_leaves=6,
    )
    data["args"] = draw(st.lists(json_values, max_size=3))
    data["kwargs"] = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    data["catch_up"] = draw(st.sampled_from(["latest", "all", "none"]))
    data["grace"] = draw(durations)
    data["options"] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "priority": st.integers(0, 9),
                "expires": durations,
                "max_retries": st.integers(0, 20),
                "retry_backoff": durations,
            },
        )
    )
    data["enabled"] = draw(st.booleans())
    return data


@settings(max_examples=100, deadline=None)
@given(entries_mappings())
def test_round_trip_property(data: dict[str, Any]) -> None:
    entry = validate_entry("job", data, zone=BERLIN, defaults={})
    again = validate_entry("job", entry_to_mapping(entry), zone=BERLIN, defaults={})
    assert again == entry
    assert again.content_hash() == entry.content_hash()


def test_digests_stay_what_earlier_versions_stored() -> None:
    """A changed digest reads as an edit (a boundary for missed fires): taking blake2b from
    _blake2 rather than hashlib (issue 17, start-up) must give the digests stored before."""
    config = load_config(Path(__file__).resolve().parents[2] / "schedules.yaml")
    digests = {name: config.entries[name].content_hash() for name in ("disk-usage", "heartbeat")}
    assert digests == {
        "disk-usage": "2ae2d2e92f5b1e3666c2acd3482402e2",
        "heartbeat": "cc10994fe7e22bef83d7cb1ec13629af",
    }
