"""The parsed-configuration cache of ``beat next ENTRY`` and ``beat list`` (beat/cli/cached.py,
beat/cache): it answers exactly as a full read of the file would, is keyed by the file's content
(an edit that keeps size and mtime is still seen), and a corrupt, foreign or tampered cache is
ignored and rebuilt. Real files, the real CLI in process; the imports it saves are pinned in
test_readonly_imports.py."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from beat.cache.entry_codec import decode_entry, encode_spec
from beat.config import load_config
from beat.entries import Entry
from beat.time import zones
from beat.time.schedules import Interval
from tests.cli.runner import run

CONFIG = """\
timezone: UTC
entries:
  nightly: {task: log, cron: "30 2 * * *"}
  broken: {task: log, cron: "not a cron"}
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schedules.yaml").write_text(CONFIG)
    return tmp_path


def _cache_files(here: Path) -> list[Path]:
    folder = here / "cache" / "beat"
    return sorted(folder.iterdir()) if folder.exists() else []


def _next(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return run(capsys, "-s", "schedule.db", "next", *argv)


def test_the_cache_answers_as_the_file_does(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same output, warnings and errors from the cache as from the file; one cache file."""
    for argv in (["nightly", "-n", "2", "--json"], ["broken"], ["nightl"], ["nightly", "-n", "1"]):
        first = _next(capsys, *argv)
        assert len(_cache_files(here)) == 1
        assert _next(capsys, *argv) == first, argv
    for argv in (["list"], ["list", "--json"]):
        first = run(capsys, "-s", "schedule.db", *argv)
        assert first[0] == 0 and "nightly" in first[1] and "warning:" in first[2]
        assert run(capsys, "-s", "schedule.db", *argv) == first, argv
    code, out, err = _next(capsys, "nightly", "--json", "-n", "1")
    assert (code, json.loads(out)[0][11:16]) == (0, "02:30")
    assert "warning:" in err and "broken" in err
    code, _, err = _next(capsys, "nightl")
    assert code == 2 and "no entry named 'nightl' (did you mean 'nightly'?)" in err
    assert _next(capsys, "broken")[0] == 2  # an invalid entry is left out, cached or not


def test_warnings_name_the_file_as_it_was_given(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for given in ("schedules.yaml", str(here / "schedules.yaml"), "schedules.yaml"):
        for _ in range(2):
            code, _, err = _next(capsys, "nightly", "--config", given)
            assert code == 0
            assert err.startswith(f"warning: {given}:4: entries.broken"), err


def test_an_edit_that_keeps_size_and_mtime_is_read(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = here / "schedules.yaml"
    assert json.loads(_next(capsys, "nightly", "--json", "-n", "1")[1])[0][11:16] == "02:30"
    assert json.loads(_next(capsys, "nightly", "--json", "-n", "1")[1])[0][11:16] == "02:30"
    before = config.stat()
    config.write_text(CONFIG.replace("30 2 * * *", "45 3 * * *"))
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert config.stat().st_size == before.st_size
    assert json.loads(_next(capsys, "nightly", "--json", "-n", "1")[1])[0][11:16] == "03:45"


def _tampered(document: dict[str, object]) -> None:
    """A cached spec that would change the answer: every 5 minutes instead of 02:30."""
    payload = document["payload"]
    assert isinstance(payload, dict)
    for spec in payload["specs"]:
        spec["schedule"] = ["cron", "*/5 * * * *", "UTC", ""]


@pytest.mark.parametrize("command", [("next", "nightly", "--json", "-n", "2"), ("list", "--json")])
@pytest.mark.parametrize(
    "spoil",
    [
        "not json {",
        "[1, 2]",
        "broken: an unknown schedule kind",
        "broken: a spec index out of range",
        "broken: a cron expression that does not parse",
        "broken: no broker",
        "uncached: an entry the cache does not hold",
        "foreign: a tampered spec in a file others may write",
    ],
)
def test_a_corrupt_or_foreign_cache_is_ignored_and_rebuilt(
    here: Path, capsys: pytest.CaptureFixture[str], spoil: str, command: tuple[str, ...]
) -> None:
    fresh = run(capsys, "-s", "schedule.db", *command)
    assert fresh[0] == 0 and "02:30" in fresh[1]
    (cache,) = _cache_files(here)
    document = json.loads(cache.read_text())
    specs = document["payload"]["specs"]
    if spoil.startswith("broken: an unknown"):
        specs[0]["schedule"] = ["os.system", "true"]
    elif spoil.startswith("broken: a spec index"):
        document["payload"]["entries"]["nightly"] = len(specs)
    elif spoil.startswith("broken: a cron"):
        specs[0]["schedule"][1] = "99 99 * * *"
    elif spoil.startswith("broken: no broker"):
        del document["payload"]["broker_url"]
    elif spoil.startswith("uncached"):
        _tampered(document)
        document["payload"]["entries"]["nightly"] = -1
    elif spoil.startswith("foreign"):
        _tampered(document)
    text = json.dumps(document) if spoil.startswith(("broken", "foreign", "uncached")) else spoil
    cache.write_text(text)
    if spoil.startswith("foreign"):
        cache.chmod(0o664)
    assert run(capsys, "-s", "schedule.db", *command) == fresh
    if not spoil.startswith("foreign"):  # read as a miss: the full read wrote it again
        assert json.loads(cache.read_text())["payload"]["specs"][0]["schedule"][1] == "30 2 * * *"


def test_a_cache_in_a_folder_others_may_write_is_not_believed(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh = _next(capsys, "nightly", "--json", "-n", "2")
    (cache,) = _cache_files(here)
    document = json.loads(cache.read_text())
    _tampered(document)
    cache.write_text(json.dumps(document))
    cache.parent.chmod(0o777)
    assert _next(capsys, "nightly", "--json", "-n", "2") == fresh


KINDS = """\
timezone: Europe/Berlin
defaults: {grace: 10m, options: {priority: 3}}
entries:
  hashed: {task: t, cron: "H 3 * * *", jitter: 30s, overlap: skip, pause_on_failure: true}
  bounded: {task: t, cron: "0 9 * * 1-5", start: 2026-01-01, end: "2027-06-30T18:00:00+02:00"}
  anchored: {task: t, every: 90m, start: "2026-03-29T01:30:00", timezone: America/New_York}
  unanchored: {task: t, every: 10s, enabled: false, catch_up: all}
  fortnightly: {task: t, calendar: {every: 2w, at: "09:30:15", start: 2026-01-05}}
  monthly: {task: t, calendar: {every: 1mo, at: "23:59", start: 2026-01-31}}
  once: {task: t, at: "2026-10-25T02:30"}
  dusk: {task: t, solar: {event: dusk_civil, lat: 52.52, lon: 13.4}}
  busy: {task: t, cron: "*/5 * * * *", args: [1, 2.5, "x", null, true, [1]],
         kwargs: {a: {b: [1, 2]}, c: false}, queue: q,
         options: {expires: 1h, soft_time_limit: 20s, time_limit: 30s, max_retries: 2,
                   retry_backoff: 2s, retry_backoff_max: 1m}}
"""


def test_every_kind_of_entry_reads_back_equal(tmp_path: Path) -> None:
    """Each schedule kind and setting survives the cache's JSON as an equal entry with the same
    content hash."""
    (tmp_path / "schedules.yaml").write_text(KINDS)
    entries = load_config(tmp_path / "schedules.yaml").entries
    assert len(entries) == 9
    for name, entry in entries.items():
        encoded = encode_spec(entry.spec)
        assert encoded is not None, name
        back = decode_entry(name, json.loads(json.dumps(encoded)))
        assert back == entry, name
        assert back.content_hash() == entry.content_hash(), name
        assert back.schedule.describe() == entry.schedule.describe(), name


class _Daily(Interval):
    """A schedule kind the cache does not know."""


def test_an_entry_json_cannot_hold_is_not_cached() -> None:
    """Entries made in code can hold what no configuration gives (a date among the args, a
    schedule kind of their own): they are left out of the cache, not changed by it."""
    utc = zones.get("UTC")
    dated = Entry("dated", "t", Interval(timedelta(hours=1), None, utc), args=(date(2026, 1, 1),))
    tupled = Entry("tupled", "t", Interval(timedelta(hours=1), None, utc), args=((1, 2),))
    own = Entry("own", "t", _Daily(timedelta(days=1), None, utc))
    assert [encode_spec(e.spec) for e in (dated, tupled, own)] == [None, None, None]
    assert encode_spec(Entry("plain", "t", Interval(timedelta(hours=1), None, utc)).spec)


def test_entries_from_a_database_are_read_every_time(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`source:` a database: its entries change without the file changing, so nothing is
    cached and `beat next` sees an edit made with `beat entries update`."""
    config = here / "schedules.yaml"
    config.write_text(f"timezone: UTC\nsource: 'sqlite:///{here / 'entries.db'}'\n")
    c = ("--config", str(config))
    assert (
        run(capsys, "entries", *c, "add", "report", "--task", "t", "--cron", "30 2 * * *")[0] == 0
    )
    for _ in range(2):
        code, out, _ = _next(capsys, "report", *c, "--json", "-n", "1")
        assert (code, json.loads(out)[0][11:16]) == (0, "02:30")
    assert run(capsys, "entries", *c, "update", "report", "--cron", "45 3 * * *")[0] == 0
    code, out, _ = _next(capsys, "report", *c, "--json", "-n", "1")
    assert (code, json.loads(out)[0][11:16]) == (0, "03:45")
    assert "45 3 * * *" in run(capsys, "-s", "schedule.db", "list", *c)[1]
    assert _cache_files(here) == []
