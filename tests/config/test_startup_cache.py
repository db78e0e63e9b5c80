"""The daemon's start-up cache (issue 17): an unchanged schedules.yaml is not parsed again, an
edited one is, and a cache that does not verify is ignored with a warning, never trusted."""

from __future__ import annotations

import builtins
import dataclasses
import gc
import io
import json
import logging
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import daemonkit.yaml_tree as yaml_tree
from beat.config import load_config, validate_entry
from beat.config.model import Config, ReadyHook
from beat.config.spec_cache import SpecCache
from beat.config.startup_cache import cache_file_for
from beat.errors import ConfigError
from beat.time import zones

FILE = """\
timezone: Europe/Berlin
broker: redis://127.0.0.1:6379/3
defaults: {queue: bulk, grace: 5m, options: {expires: 1h}}
routes:
  app.mail.*: {queue: mail}
worker: {concurrency: 3}
entries:
  a: {task: app.report, cron: '*/5 * * * *'}
  bb: {task: app.report, cron: '*/5 * * * *'}
  c: {task: app.mail.send, every: 30s, timezone: Asia/Tokyo}
  d: {task: app.report, cron: 'H * * * *', kwargs: {id: 1}}
  e: {task: app.report, cron: 'H * * * *', kwargs: {id: 2}, args: [1, 2.5, null]}
  g: {task: app.report, cron: 'H H * * *'}
  hh: {task: app.report, cron: 'H H * * *'}
  f:
    task: app.report
    calendar: {every: 1mo, start: '2026-01-31', at: '09:30'}
    jitter: 10s
    overlap: skip
    enabled: false
"""


def same(a: Config, b: Config) -> None:
    assert list(a.entries) == list(b.entries)
    for name, entry in a.entries.items():
        assert entry == b.entries[name], name
        assert entry.content_hash() == b.entries[name].content_hash()
    for field in dataclasses.fields(Config):
        if field.name != "entries":
            assert getattr(a, field.name) == getattr(b, field.name), field.name


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a YAML file is parsed."""
    calls: list[int] = []
    real = yaml_tree.TreeBuilder.build

    def build(self: yaml_tree.TreeBuilder, text: str) -> object:
        calls.append(1)
        return real(self, text)

    monkeypatch.setattr(yaml_tree.TreeBuilder, "build", build)
    return calls


def test_an_unchanged_file_is_not_parsed_again_and_gives_the_same_config(
    tmp_path: Path, parses: list[int]
) -> None:
    path, cache = tmp_path / "schedules.yaml", tmp_path / "state.db.config-cache"
    path.write_text(FILE)
    cold = load_config(path, cache)
    assert cache.exists() and len(parses) == 1
    assert cache.stat().st_mode & 0o077 == 0  # private, like the state file
    warm = load_config(path, cache)
    assert len(parses) == 1  # not read again
    same(cold, warm)
    same(load_config(path), warm)
    assert warm.entries["g"].schedule != warm.entries["hh"].schedule  # H: by name


def test_a_cold_start_reads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The cache's key (the file's digest) and the parse come from one read: 100,000 entries
    # are a few MiB, and a file edited between two reads could be cached under another key.
    path, cache = tmp_path / "schedules.yaml", tmp_path / "state.db.config-cache"
    path.write_text(FILE)
    reads: list[str] = []
    real = io.open

    def counted(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            reads.append(str(file))
        return real(file, *args, **kwargs)

    later: list[ReadyHook] = []
    monkeypatch.setattr(io, "open", counted)
    monkeypatch.setattr(builtins, "open", counted)
    config = load_config(path, cache, later)
    monkeypatch.undo()
    assert len(reads) == 1
    later[0](config.entries)  # the write, once ready: the file checked unchanged there
    same(load_config(path, cache), config)


def test_an_edited_file_is_read_again_and_its_problems_keep_their_lines(
    tmp_path: Path, parses: list[int]
) -> None:
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    path.write_text(FILE)
    load_config(path, cache)
    path.write_text(FILE.replace("'*/5 * * * *'}\n  bb", "'*/7 * * * *'}\n  bb"))
    edited = load_config(path, cache)
    assert len(parses) == 2 and edited.entries["a"].schedule.describe() == "cron '*/7 * * * *'"
    assert load_config(path, cache).entries["a"] == edited.entries["a"]  # the new cache
    assert len(parses) == 2
    path.write_text(FILE.replace("every: 30s", "every: 30x"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, cache)
    assert [(p.line, p.path) for p in caught.value.problems] == [(10, "entries.c.every")]


def rewrite(cache: Path, change: object) -> None:
    """Change the cache's payload, keeping its key (a sound file that lies)."""
    data = json.loads(cache.read_bytes())
    change(data["payload"])  # type: ignore[operator]
    cache.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        "flipped",
        "not-json",
        "other-settings",
        "bad-index",
        "repeated-name",
        "invalid-setting",
    ],
)
def test_a_cache_that_does_not_verify_is_ignored_with_a_warning(
    tmp_path: Path, damage: str, parses: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    path.write_text(FILE)
    cold = load_config(path, cache)
    raw = cache.read_bytes()
    if damage == "truncated":
        cache.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":
        cache.write_bytes(raw.replace(b"app.report", b"app.rEport", 1))
    elif damage == "not-json":
        cache.write_bytes(b"{]")
    elif damage == "other-settings":  # valid settings, but not the file's
        rewrite(cache, lambda d: d["specs"][0][0].update(task="app.other"))
    elif damage == "bad-index":
        rewrite(cache, lambda d: d["spec_of"].__setitem__(0, 99))
    elif damage == "repeated-name":
        rewrite(cache, lambda d: d["names"].__setitem__(1, "a"))
    else:  # a setting no validation accepts
        rewrite(cache, lambda d: d["specs"][0][0].update(cron="61 * * * *"))
    with caplog.at_level(logging.WARNING, logger="beat.config"):
        config = load_config(path, cache)
    assert any("start-up cache" in r.getMessage() for r in caplog.records)
    assert len(parses) == 2  # the file was read
    same(cold, config)
    caplog.clear()
    same(cold, load_config(path, cache))  # and a good cache written again
    assert len(parses) == 2 and not caplog.records


def test_no_cache_for_a_file_with_problems(tmp_path: Path) -> None:
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    path.write_text("entries:\n  a: {task: t, every: 1x}\n")
    with pytest.raises(ConfigError):
        load_config(path, cache)
    assert not cache.exists()


def test_settings_json_has_no_type_for_are_kept_in_their_normalised_form(
    tmp_path: Path, parses: list[int]
) -> None:
    # A YAML timestamp and date: kept as the entry's own mapping writes them (ISO strings),
    # which validate to the same entry (the content hashes are compared on the way in).
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    path.write_text(
        "entries:\n"
        "  a: {task: t, every: 1h, start: 2026-01-01T00:00:00Z}\n"
        "  b: {task: t, cron: '0 9 * * *', start: 2026-03-01, end: 2026-12-31T10:00:00+02:00}\n"
    )
    cold = load_config(path, cache)
    same(cold, load_config(path, cache))
    assert len(parses) == 1


def test_the_cache_lives_beside_a_sqlite_state_only(tmp_path: Path) -> None:
    assert cache_file_for(str(tmp_path / "s.db")) == tmp_path / "s.db.config-cache"
    assert cache_file_for(f"sqlite:///{tmp_path}/s.db") == tmp_path / "s.db.config-cache"
    assert cache_file_for("sqlite:///:memory:") is None
    assert cache_file_for("postgresql://u@h/db") is None


def test_a_cache_others_can_write_is_not_believed(
    tmp_path: Path, parses: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    # The read-only CLI's rule, now the daemon's too (one reader, beat.cache.files): a file
    # another user could have written is not read, even when it is otherwise sound.
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    path.write_text(FILE)
    load_config(path, cache)
    cache.chmod(0o666)
    with caplog.at_level(logging.WARNING, logger="beat.config"):
        load_config(path, cache)
    assert len(parses) == 2
    assert any("start-up cache" in r.getMessage() for r in caplog.records)
    assert cache.stat().st_mode & 0o777 == 0o600  # written again, privately


def test_the_cache_is_written_when_the_caller_says(tmp_path: Path, parses: list[int]) -> None:
    # The daemon writes it once ready (the write is not part of the time to READY), and only
    # while the file is still the one it read: an edit in between leaves no cache of it.
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    path.write_text(FILE)
    later: list[ReadyHook] = []
    cold = load_config(path, cache, later)
    assert not cache.exists() and len(later) == 1
    # By then the loaded dict was handed over to the roster and emptied: the write is given
    # the running beat's entries (it wrote an empty cache when it read the loaded dict).
    running = dict(cold.entries)
    cold.entries.clear()
    later[0](running)
    cold = dataclasses.replace(cold, entries=running)
    same(cold, load_config(path, cache))
    assert len(parses) == 1
    path.write_text(FILE.replace("every: 30s", "every: 40s"))
    load_config(path, cache, later := [])
    path.write_text(FILE.replace("every: 30s", "every: 50s"))
    later[0]({})  # edited since it was read: not cached under the old key
    assert load_config(path, cache).entries["c"].schedule.describe() == "every 50s"
    assert len(parses) == 3


def test_the_cache_holds_the_files_entries_not_a_sql_sources_rows(tmp_path: Path) -> None:
    """A beat with a SQL source runs the file's entries and the table's rows: the cache it
    writes once ready holds the file's only. (It held every row too, read back at the next
    start as entries of the file: each row then clashed with one, every edit of a row made
    while the beat was down was ignored, and 100,000 rows logged 100,000 clash errors.)"""
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    url = f"sqlite:///{tmp_path / 'rows.db'}"
    path.write_text(FILE.replace("entries:\n", f"source: '{url}'\nentries:\n"))
    later: list[ReadyHook] = []
    cold = load_config(path, cache, later)
    row = validate_entry(  # as the source reads a row: the file's zone, defaults and routes
        "row-1",
        {"task": "t", "every": "5m"},
        zone=cold.timezone,
        defaults=cold.defaults,
        routes=cold.routes,
        source=url,
    )
    later[0]({**cold.entries, "row-1": row})  # the running beat's entries
    warm = load_config(path, cache)
    same(cold, warm)
    assert "row-1" not in warm.entries


def test_a_warm_start_keys_each_shared_setting_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Entries of one setting share one mapping in the cache: its SpecCache key is computed
    # once, not once per entry (issue 17: ~0.15 s of a 100,000-entry warm start).
    path, cache = tmp_path / "schedules.yaml", tmp_path / "c"
    body = "".join(f"  e{i}: {{task: t, every: {1 + i % 3}m}}\n" for i in range(300))
    path.write_text("entries:\n" + body)
    cold = load_config(path, cache)
    keyed: list[object] = []
    real = SpecCache._key

    def counted(*args: Any) -> Any:
        keyed.append(args[0])
        return real(*args)

    monkeypatch.setattr(SpecCache, "_key", staticmethod(counted))
    same(cold, load_config(path, cache))
    assert len(keyed) == 3


def test_a_warm_start_keeps_one_key_for_settings_that_differ_by_their_own_arguments() -> None:
    # Entries with arguments of their own (kwargs: {id: 17}) have a setting each in the cache,
    # whose keys are all alike (arguments count only as present): one key object is kept for
    # them all, not one per setting until the load ends (issue 17: ~800 bytes each, kept
    # among the entries being built, left 40 MB of the heap unreturned at a 1,000,000-entry
    # restart with 50,000 of them).
    n = 5000
    settings = [{"task": "t", "every": "1m", "kwargs": {"id": 1000 + i}} for i in range(n)]
    cache, utc = SpecCache(shared=True), zones.get("UTC")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        keys = [cache.key(setting, utc, {}, "yaml") for setting in settings]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert keys[0] is not None and all(key == keys[0] for key in keys)
    assert held / n < 200, f"{held / n:.0f} bytes per setting"
