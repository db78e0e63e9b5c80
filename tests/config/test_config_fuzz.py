"""Fuzz: whatever the input, the result is a Config/Entry or a ConfigError, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beat.config import (
    CALENDAR_KEYS,
    ENTRY_KEYS,
    OPTION_KEYS,
    TOP_KEYS,
    WORKER_KEYS,
    Config,
    load_config,
    validate_entry,
)
from beat.entries import Entry
from beat.errors import ConfigError

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# Nested values are costly for Hypothesis to draw (most of these tests' time is generation).
NESTED = settings(FUZZ, max_examples=120)

KEYS = st.sampled_from([*TOP_KEYS, *ENTRY_KEYS, *OPTION_KEYS, *CALENDAR_KEYS, *WORKER_KEYS])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "30s",
            "1h30m",
            "0",
            "-1s",
            "2w",
            "3mo",
            "09:30",
            "25:61",
            "* * * * *",
            "60 * * * *",
            "H H * * *",
            "@daily",
            "0 9 L * *",
            "1#2 * * * *",
            "UTC",
            "Europe/Berlin",
            "Mars/X",
            "latest",
            "all",
            "localtime",
            "2026-03-08T02:30",
            "2026-01-01T00:00:00Z",
            "x" * 300,
        ]
    )
    | st.dates()
    | st.datetimes()
    | st.times()
    | st.timedeltas()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(KEYS | st.text(max_size=6) | st.integers(), inner, max_size=6)
    ),
    max_leaves=25,
)


def outcome(load: Any) -> Config | Entry | ConfigError:
    try:
        result: Config | Entry = load()
    except ConfigError as e:
        assert e.problems, "a ConfigError always carries its problems"
        for problem in e.problems:
            assert problem.message and "\n" not in str(problem)
        return e
    return result


@FUZZ
@given(st.text(max_size=300))
def test_any_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome(lambda: load_config(path))


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            ["entries:", "  a:", "    task: t", "    every: 1m", "    cron: '* * * * *'", "- x",
             "  - y", "    <<: *x", "&x {a: 1}", "? [a]", ": b", "!!binary aGk=", "'open",
             "    at: 2026-01-01", "timezone: Europe/Berlin", "defaults: {grace: 1h}", "---",
             "\t", "{", "]", "#c", "    calendar: {every: 2w, start: 2026-01-05}"]
        ),
        max_size=12,
    )
)  # fmt: skip
def test_yaml_like_lines(tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    outcome(lambda: load_config(path))


@pytest.mark.slow
@NESTED
@given(st.dictionaries(KEYS, VALUES, max_size=8), st.dictionaries(KEYS, VALUES, max_size=4))
def test_any_structure_as_yaml(tmp_path: Path, top: dict[str, Any], entry: dict[str, Any]) -> None:
    top = (
        {**top, "entries": {"e": entry, **(top.get("entries") or {})}}
        if isinstance(top.get("entries", {}), dict)
        else top
    )
    path = tmp_path / "fuzz.yaml"
    try:
        path.write_text(yaml.safe_dump(top), encoding="utf-8")
    except (yaml.YAMLError, ValueError):
        return  # not representable in YAML (e.g. timedelta, time, surrogates)
    outcome(lambda: load_config(path))


@pytest.mark.slow
@NESTED
@given(
    st.text(max_size=10) | st.integers(),
    st.dictionaries(KEYS, VALUES, max_size=8) | VALUES,
    st.dictionaries(KEYS, VALUES, max_size=4) | VALUES,
)
def test_any_mapping_to_validate_entry(name: Any, data: Any, defaults: Any) -> None:
    outcome(lambda: validate_entry(name, data, zone=ZoneInfo("Europe/Berlin"), defaults=defaults))


@pytest.mark.slow
@NESTED
@given(st.dictionaries(st.sampled_from(ENTRY_KEYS), VALUES | SCALARS, min_size=1, max_size=6))
def test_entry_with_a_real_task(data: dict[str, Any]) -> None:
    """Most inputs fail on `task`; this one gets past it to the schedule and options."""
    data = {**data, "task": "t"}  # generated data may hold a `task` key too: "t" wins
    result = outcome(lambda: validate_entry("e", data, zone=ZoneInfo("UTC"), defaults={}))
    if isinstance(result, Entry):
        assert result.task == "t"
