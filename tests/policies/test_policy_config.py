"""The run-policy keys (``overlap``, ``pause_on_failure``) through every way in: the YAML file
(entries and ``defaults:``), ``beat check``, ``beat config``, the SQL source, ``beat entries`` and
the Python EntryStore, with the same messages; and the SQL schema upgrade that adds them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from beat.config import load_config
from beat.entries import Overlap
from beat.entries_api import EntryStore
from beat.errors import ConfigError
from beat.sources.sql.schema import SCHEMA_VERSION, ensure_schema, make_engine
from tests.cli.runner import run

BAD_OVERLAP = "expected one of allow, skip, buffer_one, got the string 'skp' (did you mean 'skip'?)"
BAD_FLAG = "expected true or false, got"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'entries.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_yaml_entries_defaults_check_and_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text(
        "defaults: {overlap: buffer_one}\n"
        "entries:\n"
        "  a: {task: t, every: 1s, overlap: skip, pause_on_failure: true}\n"
        "  b: {task: t, every: 1s}\n"
        "  c: {task: t, every: 1s, overlap: allow}\n"
    )
    config = load_config(path)
    a, b, c = (config.entries[n] for n in "abc")
    assert (a.overlap, a.pause_on_failure) == (Overlap.SKIP, True)
    assert (b.overlap, b.pause_on_failure) == (Overlap.BUFFER_ONE, False)
    assert c.overlap is Overlap.ALLOW
    code, out, _ = run(capsys, "config", "--config", str(path), "--json")
    assert code == 0
    shown = json.loads(out)["entries"]
    assert shown["a"]["overlap"] == "skip" and shown["a"]["pause_on_failure"] is True
    assert "overlap" not in shown["c"] and "pause_on_failure" not in shown["c"]

    path.write_text(
        "defaults: {overlap: never}\n"
        "entries:\n  a: {task: t, every: 1s, overlap: skp, pause_on_failure: 'yes'}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    text = "\n".join(str(p) for p in e.value.problems)
    assert f"entries.a.overlap: {BAD_OVERLAP}" in text
    assert f"entries.a.pause_on_failure: {BAD_FLAG} the string 'yes'" in text
    assert "defaults.overlap: expected one of allow, skip, buffer_one, got the string" in text
    code, out, err = run(capsys, "check", "--config", str(path))
    assert code == 2 and f"entries.a.overlap: {BAD_OVERLAP}" in err + out


def test_entry_store_sql_source_and_cli_accept_the_same_keys(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with EntryStore(db_url) as store:
        store.add("a", {"task": "t", "every": "1s", "overlap": "skip", "pause_on_failure": True})
        assert store.get("a") == {
            "task": "t",
            "every": "1s",
            "overlap": "skip",
            "pause_on_failure": True,
        }
        with pytest.raises(ConfigError, match=r"entries\.x\.overlap: expected one of allow, "):
            store.add("x", {"task": "t", "every": "1s", "overlap": "skp"})
        with pytest.raises(ConfigError, match=r"entries\.x\.pause_on_failure: expected true"):
            store.add("x", {"task": "t", "every": "1s", "pause_on_failure": "yes"})
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(f"source: '{db_url}'\n")
    c = ("entries", "--config", str(cfg))
    code, _, err = run(
        capsys, *c, "add", "b", "--task", "t", "--every", "1s", "--overlap", "buffer_one",
        "--pause-on-failure",
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, *c, "add", "y", "--task", "t", "--every", "1s", "--overlap", "skp")
    assert code == 2 and f"entries.y.overlap: {BAD_OVERLAP}" in err
    code, _, err = run(capsys, *c, "update", "b", "--no-pause-on-failure")
    assert code == 0, err

    from beat.sources.sql import merged_entries

    entries = merged_entries(load_config(cfg))
    assert (entries["a"].overlap, entries["a"].pause_on_failure) == (Overlap.SKIP, True)
    assert (entries["b"].overlap, entries["b"].pause_on_failure) == (Overlap.BUFFER_ONE, False)


def test_schema_version_2_gets_the_run_policy_columns(db_url: str) -> None:
    engine = make_engine(db_url)
    ensure_schema(engine)
    with engine.begin() as conn:
        for column in ("overlap", "pause_on_failure"):
            conn.execute(sa.text(f"ALTER TABLE beat_entries DROP COLUMN {column}"))
        conn.execute(sa.text("UPDATE beat_schema SET version = 2"))
        conn.execute(
            sa.text("INSERT INTO beat_entries (name, task, every) VALUES ('o', 't', '1s')")
        )
    ensure_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM beat_schema")).scalar() == SCHEMA_VERSION
        row = conn.execute(sa.text("SELECT name, overlap, pause_on_failure FROM beat_entries"))
        assert row.all() == [("o", None, None)]
    engine.dispose()
