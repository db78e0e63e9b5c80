"""Very many entries (issue 17): what entries share, what a loaded entry costs, and that
checking entries while the file is read gives the same answer as checking them afterwards."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

import beat.config.entry as entry_module
from beat.config import load_config, read_config, validate_entry
from beat.config.checker import Checker
from beat.config.entry import SpecCache
from beat.config.entry_stream import EntryStream
from beat.config.yaml_reading import read_tree
from beat.entries import Entry
from beat.messages import largest_message_size
from beat.time.schedules import Interval
from taskqueue.message import MAX_MESSAGE_BYTES

BERLIN = ZoneInfo("Europe/Berlin")
UTC: dict[str, Any] = {"zone": ZoneInfo("UTC"), "defaults": {}}
FLEET = """\
timezone: Europe/Berlin
defaults: {queue: bulk, grace: 5m}
entries:
  a: {task: app.report, cron: '*/5 * * * *'}
  b: {task: app.report, cron: '*/5 * * * *'}
  c: {task: app.report, every: 30s}
  d: {task: app.report, every: 30s}
  e: {task: app.report, cron: 'H * * * *'}
  f: {task: app.report, cron: 'H * * * *'}
  g: {task: app.report, cron: '*/5 * * * *', jitter: 10s}
  h: {task: app.report, cron: '*/5 * * * *', kwargs: {x: 1}}
  job5: {task: app.report, cron: 'H * * * *'}
  job10: {task: app.report, cron: 'H * * * *'}
  i: {task: app.report, cron: '32 * * * *'}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(text)
    return path


def test_entries_that_differ_only_by_name_share_schedule_digest_and_strings(
    tmp_path: Path,
) -> None:
    e = load_config(write(tmp_path, FLEET)).entries
    assert e["a"].spec is e["b"].spec  # one spec: the entry is its name and a reference
    assert e["a"].schedule is e["b"].schedule
    assert e["c"].schedule is e["d"].schedule
    assert e["a"].task is e["d"].task and e["a"].queue is e["d"].queue
    assert e["a"].kwargs is e["c"].kwargs  # the one empty mapping
    assert e["a"].content_hash() is e["b"].content_hash()
    # H depends on the name: each such entry has its own schedule (and its own fires).
    assert e["e"].schedule is not e["f"].schedule and e["e"].schedule != e["f"].schedule
    # ...unless their names resolve to the same minute (32 for both): then they share the
    # schedule, the spec and the digest, as entries without H do (issue 17).
    assert e["job5"].spec is e["job10"].spec
    assert e["job5"].content_hash() is e["job10"].content_hash()
    assert e["job5"].schedule.describe() == "cron 'H * * * *'"
    # The digest follows the definition's text: equal text, equal digest; `32` for `H`, other.
    assert e["e"].content_hash() == e["job5"].content_hash() != e["i"].content_hash()
    assert e["e"].content_hash() is e["f"].content_hash()  # other fires, one digest object
    # A shared digest is the digest the entry would have alone; other content, other digest.
    for entry in e.values():
        assert entry.content_hash() == entry.spec._compute_digest()
    assert len({e[n].content_hash() for n in "agh"}) == 3


def test_a_loaded_entry_costs_a_few_hundred_bytes(tmp_path: Path) -> None:
    n = 20_000
    lines = [f"  e{i}: {{task: app.t{i % 50}, cron: '*/{i % 7 + 1} * * * *'}}" for i in range(n)]
    path = write(tmp_path, "entries:\n" + "\n".join(lines) + "\n")
    gc.collect()
    tracemalloc.start()
    try:
        config = load_config(path)
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(config.entries) == n
    # Measured: about 205 bytes (Entry: a name and a shared spec; the name; its slot in the
    # dict; its line's share of the file's key lines); 420 while each Entry held every field,
    # 680 before schedules, strings and digests were shared.
    assert kept / n < 300


def test_entries_are_checked_as_the_file_is_read(tmp_path: Path) -> None:
    stream = EntryStream("schedules.yaml")
    root = read_tree(write(tmp_path, FLEET), Checker("schedules.yaml"), ("entries", stream))
    # No YAML tree is kept for any entry: only its Entry.
    assert all(isinstance(value, Entry) for value in root["entries"].values())
    # Nor an int object for its line (issue 17: 1,000,000 of them, allocated among the kept
    # entries, left 30 MB of free but resident memory once the load was over).
    assert root["entries"].key_lines == {}


def test_entries_not_streamed_keep_their_lines(tmp_path: Path) -> None:
    # A bad `defaults:` turns the stream off: the entries are checked after the file is read,
    # and their problems still name their lines; a duplicate name names the first one's line.
    text = "defaults: {grace: soon}\nentries:\n  a: {task: t, every: 1m}\n  b: {task: t}\n"
    _, problems = read_config(write(tmp_path, text + "  a: {task: t, every: 2m}\n"))
    assert sorted((p.line, p.path) for p in problems) == [
        (1, "defaults.grace"),
        (4, "entries.b"),
        (5, "entries"),
    ]
    assert "first at line 3" in next(p.message for p in problems if p.line == 5)


def test_settings_after_the_entries_give_the_same_entries_and_problems(tmp_path: Path) -> None:
    body = FLEET.split("entries:\n")[1] + "  bad: {task: x, cron: '61 * * * *'}\n"
    before = "timezone: Europe/Berlin\ndefaults: {queue: bulk, grace: 5m}\nentries:\n" + body
    after = "entries:\n" + body + "timezone: Europe/Berlin\ndefaults: {queue: bulk, grace: 5m}\n"
    first, first_problems = read_config(write(tmp_path, before))
    second, second_problems = read_config(write(tmp_path, after))
    assert first is not None and second is not None
    assert list(first.entries) == list(second.entries)
    for name, entry in first.entries.items():
        assert entry == second.entries[name], name
        assert entry.queue == "bulk" and entry.schedule.zone.key == "Europe/Berlin"
    assert [(p.path, p.message) for p in first_problems] == [
        (p.path, p.message) for p in second_problems
    ]
    assert [p.line for p in first_problems] == [15]
    assert [p.line for p in second_problems] == [13]


def test_rows_validated_with_a_spec_cache_equal_rows_validated_alone() -> None:
    cache = SpecCache()
    rows = [
        {"task": "app.t", "cron": "*/5 * * * *"},
        {"task": "app.t", "cron": "H * * * *"},
        {"task": "app.t", "every": "30s", "enabled": False},
        {"task": "app.t", "cron": "*/5 * * * *", "kwargs": {"x": 1}},
        {"task": "app.t", "cron": "*/5 * * * *", "start": "2026-01-01T01:00:00+01:00"},
        {"task": "app.t", "cron": "*/5 * * * *", "start": "2026-01-01T00:00:00Z"},
    ]
    defaults = {"queue": "bulk"}
    for round_ in range(3):
        for i, row in enumerate(rows):
            name = f"r{round_}-{i}"
            cached = validate_entry(name, row, zone=BERLIN, defaults=defaults, cache=cache)
            alone = validate_entry(name, row, zone=BERLIN, defaults=defaults)
            assert cached == alone and cached.name == name
            assert cached.content_hash() == alone.content_hash()
    # Other defaults: nothing built with the old ones is reused.
    other = validate_entry("x", rows[0], zone=BERLIN, defaults={"queue": "q2"}, cache=cache)
    assert other.queue == "q2"


def test_entries_with_equal_arguments_share_a_spec_and_unequal_ones_do_not(
    tmp_path: Path,
) -> None:
    # Lists and mappings are not in the SpecCache's key: the entries are interned as built.
    e = load_config(
        write(
            tmp_path,
            "entries:\n"
            "  a: {task: t, every: 1m, args: [1], kwargs: {x: [2]}}\n"
            "  bb: {task: t, every: 1m, args: [1], kwargs: {x: [2]}}\n"
            "  c: {task: t, every: 1m, args: [true], kwargs: {x: [2]}}\n"
            "  d: {task: t, every: 1m, args: [1], kwargs: {x: [2.0]}}\n",
        )
    ).entries
    assert e["a"].spec is e["bb"].spec
    assert e["c"].args == (True,) and e["d"].kwargs == {"x": [2.0]}
    assert len({id(e[n].spec) for n in ("a", "c", "d")}) == 3
    assert len({e[n].content_hash() for n in ("a", "c", "d")}) == 3


def test_entries_with_their_own_arguments_do_not_unshare_those_without() -> None:
    # Issue 17: 50,000 entries with kwargs of their own (each its own spec) emptied the table
    # of shared specs every 16,384, so equal specs built after that were kept twice.
    every = Interval(timedelta(minutes=1), None, BERLIN)
    first = Entry("a", "app.t", every, grace=timedelta(seconds=7))
    for i in range(20_000):
        Entry(f"k{i}", "app.t", every, kwargs={"id": i})
    assert Entry("b", "app.t", every, grace=timedelta(seconds=7)).spec is first.spec


def test_entries_that_differ_by_name_arguments_or_h_validate_shared_settings_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17: names of other lengths, per-entry kwargs and H schedules used to validate the
    # whole entry again each; now only what can differ is checked per entry.
    full = []
    real = entry_module._settings
    monkeypatch.setattr(
        entry_module,
        "_settings",
        lambda *a: full.append(1) or real(*a),  # type: ignore[func-returns-value]
    )
    lines = []
    for i in range(300):
        name = "e" * (1 + i % 7) + str(i)  # many name lengths
        kind = (
            "cron: '*/5 * * * *'",
            "cron: 'H * * * *'",
            f"cron: '0 * * * *', kwargs: {{id: {i}}}",
        )
        lines.append(f"  {name}: {{task: app.t, {kind[i % 3]}}}")
    path = write(tmp_path, "entries:\n" + "\n".join(lines) + "\n")
    entries = load_config(path).entries
    assert len(full) == 3  # one per distinct set of settings
    for name, entry in entries.items():
        data = dict(yaml.safe_load(lines[int(name.lstrip("e"))].split(": ", 1)[1]))
        alone = validate_entry(name, data, **UTC)
        assert entry == alone and entry.content_hash() == alone.content_hash(), name
    h = [e for e in entries.values() if e.schedule.describe().startswith("cron 'H")]
    assert len({e.schedule for e in h}) > 1  # each H entry keeps its own fires


def test_an_entry_sharing_settings_reports_its_own_problems_as_if_alone(tmp_path: Path) -> None:
    # Kwargs that just fit with the name "a", so that a longer name is over the limit.
    small = validate_entry("a", {"task": "t", "cron": "H * * * *", "kwargs": {"s": ""}}, **UTC)
    limit = "x" * (MAX_MESSAGE_BYTES - largest_message_size(small))
    shared = f"task: t, cron: 'H * * * *', kwargs: {{s: {limit}}}"
    body = (
        f"  a: {{{shared}}}\n"
        f"  b: {{task: t, cron: 'H * * * *', kwargs: {{when: 2026-01-01}}}}\n"
        f"  {'n' * 200}: {{{shared}}}\n"
        "  c: {task: t, cron: 'H 25-24 * * *', kwargs: {x: 1}}\n"
        "  d: {task: t, cron: 'H * * * *', args: [1, 2026-01-01]}\n"
    )
    _, problems = read_config(write(tmp_path, "entries:\n" + body))
    got = [(p.line, p.path, p.message) for p in problems]
    # Each entry alone (first in its file, so no settings to share): the same problems.
    alone = []
    for number, line in enumerate(body.splitlines(), start=2):
        padding = "\n" * (number - 2)
        _, own = read_config(write(tmp_path, "entries:\n" + padding + line + "\n"))
        alone += [(p.line, p.path, p.message) for p in own]
    assert got == alone
    assert [p[0] for p in got] == [3, 4, 5, 6]
