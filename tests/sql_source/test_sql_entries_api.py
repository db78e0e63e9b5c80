"""EntryStore: CRUD, validation identical to schedules.yaml, YAML import/export round trip."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beat.config import load_config
from beat.entries_api import EntryExistsError, EntryNotFoundError, EntryStore, merge_update
from beat.errors import ConfigError
from beat.sources.sql.table import SqlSource

REPO = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")


def test_crud(db_url: str) -> None:
    with EntryStore(db_url, BERLIN) as store:
        store.add("ping", {"task": "app.ping", "every": "30s", "kwargs": {"x": 1}})
        store.add("report", {"task": "app.report", "cron": "30 2 * * *", "queue": "reports"})
        assert store.get("ping") == {"task": "app.ping", "every": "30s", "kwargs": {"x": 1}}
        assert [row["name"] for row in store.list()] == ["ping", "report"]
        store.disable("report")
        assert store.get("report")["enabled"] is False
        store.enable("report")
        assert "enabled" not in store.get("report")
        store.update("report", {"queue": "q2", "args": [1, 2]})
        assert store.get("report") == {
            "task": "app.report",
            "cron": "30 2 * * *",
            "queue": "q2",
            "args": [1, 2],
        }
        store.update("report", {"task": "app.other", "every": "5m"}, replace=True)
        assert store.get("report") == {"task": "app.other", "every": "5m"}
        store.remove("ping")
        assert store.names() == ["report"]


def test_partial_update_switches_schedule_kind() -> None:
    current = {"task": "t", "every": "5s", "start": "2026-01-01T00:00:00Z", "queue": "q"}
    assert merge_update(current, {"cron": "0 * * * *"}) == {
        "task": "t",
        "queue": "q",
        "cron": "0 * * * *",
    }
    # A new `every` keeps the phase anchor; None removes a key.
    assert merge_update(current, {"every": "10s", "queue": None}) == {
        "task": "t",
        "every": "10s",
        "start": "2026-01-01T00:00:00Z",
    }


def test_add_existing_and_missing_names_are_clear_errors(db_url: str) -> None:
    with EntryStore(db_url) as store:
        store.add("nightly-report", {"task": "t", "cron": "0 3 * * *"})
        with pytest.raises(EntryExistsError, match="entry 'nightly-report' already exists"):
            store.add("nightly-report", {"task": "t", "cron": "0 4 * * *"})
        for action in (store.remove, store.enable, store.disable, store.get):
            with pytest.raises(
                EntryNotFoundError,
                match=r"no entry named 'nightly-reprot' \(did you mean 'nightly-report'\?\)",
            ):
                action("nightly-reprot")
        with pytest.raises(EntryNotFoundError, match="did you mean 'nightly-report'"):
            store.update("nightly-reprot", {"queue": "q"})
        # Nothing was changed by the failed calls.
        assert store.get("nightly-report") == {"task": "t", "cron": "0 3 * * *"}


BAD_ENTRIES = [
    {"task": "t", "evry": "5s"},
    {"task": "t", "cron": "60 * * * *"},
    {"task": "t", "cron": "* * 32 * *"},
    {"task": "t", "cron": "0 * * *"},
    {"task": "t", "every": "5s", "cron": "0 * * * *"},
    {"task": "t", "every": "soon"},
    {"task": "t", "every": "5s", "timezone": "Europe/Berln"},
    {"every": "5s"},
    {"task": "t", "every": "5s", "args": 5, "catch_up": "sometimes"},
    {"task": "t", "every": "5s", "options": {"priority": 12, "expire": "1h"}},
]


@pytest.mark.parametrize("bad", BAD_ENTRIES)
def test_validation_errors_are_the_yaml_ones(db_url: str, tmp_path: Path, bad: dict) -> None:
    import yaml

    config = tmp_path / "schedules.yaml"
    config.write_text(yaml.safe_dump({"entries": {"x": bad}}, sort_keys=False))
    with pytest.raises(ConfigError) as from_yaml:
        load_config(config)
    with EntryStore(db_url) as store, pytest.raises(ConfigError) as from_store:
        store.add("x", bad)
    # Same problems, same words (the YAML ones come sorted by line).
    expected = sorted((p.path, p.message) for p in from_yaml.value.problems)
    assert sorted((p.path, p.message) for p in from_store.value.problems) == expected
    assert expected  # the table above only holds invalid entries
    with EntryStore(db_url) as store:
        assert store.names() == []  # nothing stored


def test_update_is_validated_on_the_merged_entry(db_url: str) -> None:
    with EntryStore(db_url) as store:
        store.add("a", {"task": "t", "every": "5s"})
        with pytest.raises(ConfigError) as err:
            store.update("a", {"cron": "*/0 * * * *"})
        assert [p.path for p in err.value.problems] == ["entries.a.cron"]
        assert store.get("a") == {"task": "t", "every": "5s"}


def test_import_export_round_trip_with_the_repo_example(db_url: str, tmp_path: Path) -> None:
    example = load_config(REPO / "schedules.yaml")
    with EntryStore(db_url, example.timezone, example.defaults) as store:
        assert store.import_yaml(REPO / "schedules.yaml") == 5
        exported = store.export_yaml()
    # The export is a valid schedules.yaml with the same entries.
    out = tmp_path / "exported.yaml"
    out.write_text(exported)
    again = load_config(out)
    assert list(again.entries) == sorted(example.entries)
    for name, entry in example.entries.items():
        assert again.entries[name].content_hash() == entry.content_hash()
        assert again.entries[name].enabled == entry.enabled
    # What beat reads from the database is the same as the file.
    source = SqlSource(db_url, zone=example.timezone, defaults=example.defaults)
    loaded = source.load_all().entries
    for name, entry in example.entries.items():
        assert loaded[name].content_hash() == entry.content_hash()
        assert loaded[name].enabled == entry.enabled
    source.close()
    # Importing the export into an empty source stores identical rows.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    with EntryStore(other, example.timezone, example.defaults) as store2:
        store2.import_yaml(exported)
        assert store2.export_yaml() == exported


def test_import_keeps_meaning_when_zone_and_defaults_differ(db_url: str) -> None:
    example = load_config(REPO / "schedules.yaml")
    with EntryStore(db_url, ZoneInfo("UTC"), {}) as store:
        store.import_yaml(REPO / "schedules.yaml")
        assert store.get("heartbeat")["timezone"] == "Europe/Berlin"
        assert store.get("heartbeat")["grace"] == "1h"
        assert store.get("nightly-cleanup")["timezone"] == "America/New_York"
    source = SqlSource(db_url, zone=ZoneInfo("UTC"))
    loaded = source.load_all().entries
    for name, entry in example.entries.items():
        assert loaded[name].content_hash() == entry.content_hash()
    source.close()


def test_import_is_all_or_nothing(db_url: str) -> None:
    text = (
        "entries:\n"
        "  good:\n"
        "    task: t\n"
        "    every: 5s\n"
        "  bad:\n"
        "    task: t\n"
        "    cron: '61 * * * *'\n"
    )
    with EntryStore(db_url) as store:
        with pytest.raises(ConfigError) as err:
            store.import_yaml(text)
        (problem,) = err.value.problems
        assert (problem.file, problem.line, problem.path) == ("<input>", 7, "entries.bad.cron")
        assert store.names() == []
        store.add("good", {"task": "t", "every": "9s"})
        with pytest.raises(ConfigError, match=r"entries\.good: already exists"):
            store.import_yaml(text.replace("61", "1"))
        assert store.import_yaml(text.replace("61", "1"), replace=True) == 2
        assert store.get("good") == {"task": "t", "every": "5s"}
