"""Entries written alike (issue 17, item 3): an entry whose settings are written with the very
text of an earlier one's (``{task: app.t, every: 30s}``, on its line) is neither built nor
checked again: it is the earlier entry under its own name, whose name and message size are
still checked. Every problem is still reported, with its file, line, entry and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

import beat.config.entry_stream as stream_module
from beat.config import read_config, validate_entry
from beat.entries import EntrySpec
from beat.messages import largest_message_size
from beat.time.schedules import Cron
from taskqueue.message import MAX_MESSAGE_BYTES
from tests.cli.runner import run

ALIKE = ["{task: app.t, every: 30s}", "{task: app.u, cron: '*/5 * * * *', queue: q}"]
H = "{task: app.t, cron: 'H * * * *'}"  # H: the fires depend on the name
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T = {"task": "t", "every": "1m"}
NESTED = "{task: app.t, every: 1m, kwargs: {id: 1}}"  # one line, but not one flat mapping


def write(tmp_path: Path, lines: list[str], name: str = "schedules.yaml") -> Path:
    path = tmp_path / name
    path.write_text("timezone: Europe/Berlin\nentries:\n" + "".join(f"  {x}\n" for x in lines))
    return path


def block(line: str) -> str:
    """The entry on ``line`` in block style: nothing written alike, each checked alone."""
    name, flow = line.split(": ", 1)
    settings = yaml.safe_load(flow)
    return name + ":" + "".join(f"\n    {k}: {json.dumps(v)}" for k, v in settings.items())


def test_entries_written_alike_are_checked_once_and_equal_entries_checked_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"e{i:03}: {[*ALIKE, H, NESTED][i % 4]}" for i in range(300)]
    checked: list[str] = []
    real = stream_module.check_entry
    monkeypatch.setattr(
        stream_module,
        "check_entry",
        lambda checker, name, *a, **k: checked.append(name) or real(checker, name, *a, **k),
    )
    config, problems = read_config(write(tmp_path, lines))
    assert config is not None and problems == []
    # Once per text (and length of name; an H entry's schedule is still its own), and each
    # nested one.
    assert checked == ["e000", "e001", "e002"] + [f"e{i:03}" for i in range(3, 300, 4)]
    monkeypatch.undo()
    alone, _ = read_config(write(tmp_path, [block(line) for line in lines], "block.yaml"))
    assert alone is not None and list(alone.entries) == list(config.entries)
    for name, entry in config.entries.items():
        assert entry == alone.entries[name], name
        assert entry.content_hash() == alone.entries[name].content_hash()
    assert config.entries["e001"].spec is config.entries["e297"].spec


def test_every_problem_of_entries_written_alike_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [f"e{i}: {ALIKE[0]}" for i in range(300)]
    lines[5] = "e5: {task: app.t, every: 0s}"
    lines[7] = "e7: {task: app.t, every: 0s}"  # a text with a problem: reported each time
    lines[100] = "'bad/name': " + ALIKE[0]
    lines[299] = "e299: {task: app.t, every: 30s, grace: soon}"
    path = write(tmp_path, lines)
    _, problems = read_config(path)
    assert [(p.line, p.path) for p in problems] == [
        (8, "entries.e5.every"),
        (10, "entries.e7.every"),
        (103, "entries.bad/name"),
        (302, "entries.e299.grace"),
    ]
    code, _, err = run(capsys, "check", "--config", str(path))
    assert code == 2
    assert f"{path}:302: entries.e299.grace: 'soon' is not a duration" in err
    assert f"{path}:103: entries.bad/name: invalid entry name" in err
    assert err.count(f"{path}:") == 4


def test_a_name_too_long_for_the_settings_written_alike_is_reported(tmp_path: Path) -> None:
    # A task name that just fits with the name "a", so that a longer name is over the limit.
    utc = {"zone": ZoneInfo("Europe/Berlin"), "defaults": {}}
    task = "t" * (1 + MAX_MESSAGE_BYTES - largest_message_size(validate_entry("a", T, **utc)))
    just = validate_entry("a", {**T, "task": task}, **utc)
    assert largest_message_size(just) == MAX_MESSAGE_BYTES
    fits = f"{{task: {task}, every: 1m}}"
    lines = [f"a: {fits}", f"b: {fits}", f"{'n' * 200}: {fits}", f"c: {fits}", f"d: {fits}"]
    config, problems = read_config(write(tmp_path, lines))
    assert [(p.line, p.path, p.message.split(":")[0]) for p in problems] == [
        (5, f"entries.{'n' * 200}", "too large to send"),
    ]
    assert config is not None and list(config.entries) == ["a", "b", "c", "d"]


def test_h_entries_resolving_alike_build_their_schedule_and_spec_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: dict[str, int] = {"crons": 0, "specs": 0}
    cron_init, spec_init = Cron.__init__, EntrySpec.__init__

    def count_cron(self: Cron, *args: Any) -> None:
        built["crons"] += 1
        cron_init(self, *args)

    def count_spec(self: EntrySpec, *args: Any, **kwargs: Any) -> None:
        built["specs"] += 1
        spec_init(self, *args, **kwargs)

    monkeypatch.setattr(Cron, "__init__", count_cron)
    monkeypatch.setattr(EntrySpec, "__init__", count_spec)
    config, problems = read_config(write(tmp_path, [f"h{i}: {H}" for i in range(300)]))
    monkeypatch.undo()
    assert config is not None and problems == []
    schedules = {entry.schedule for entry in config.entries.values()}
    assert 10 < len(schedules) <= 60  # the minute H resolves to
    assert built["crons"] <= len(schedules)
    assert built["specs"] <= len(schedules) + 1
    utc = {"zone": ZoneInfo("Europe/Berlin"), "defaults": {}}
    for name in ("h0", "h17", "h299"):
        alone = validate_entry(name, {"task": "app.t", "cron": "H * * * *"}, **utc)
        assert config.entries[name] == alone
        assert config.entries[name].schedule.next_after(T0) == alone.schedule.next_after(T0)


def test_entries_with_their_own_equal_arguments_build_one_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[EntrySpec] = []
    spec_init = EntrySpec.__init__

    def count_spec(self: EntrySpec, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        spec_init(self, *args, **kwargs)

    monkeypatch.setattr(EntrySpec, "__init__", count_spec)
    kinds = [NESTED, "{task: app.t, every: 1m, kwargs: {id: 2}}", "{task: app.t, every: 1m}"]
    lines = [f"k{i}: {kinds[i % 3]}" for i in range(300)]
    config, problems = read_config(write(tmp_path, lines))
    monkeypatch.undo()
    assert config is not None and problems == []
    assert len(built) <= 4  # the first of its settings, then one per distinct arguments
    assert config.entries["k0"].spec is config.entries["k297"].spec
    assert config.entries["k1"].kwargs == {"id": 2} and config.entries["k0"].kwargs == {"id": 1}
    utc = {"zone": ZoneInfo("Europe/Berlin"), "defaults": {}}
    alone = validate_entry("k4", {"task": "app.t", "every": "1m", "kwargs": {"id": 2}}, **utc)
    assert (
        config.entries["k4"] == alone
        and config.entries["k4"].content_hash() == alone.content_hash()
    )


def test_h_entries_written_alike_check_their_own_schedule_and_report_its_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Feb 29 (leap years) is a day; Feb 30 and 31 are not: whether an entry is valid depends
    # on what its name resolves H to.
    text = "{task: app.t, cron: '0 0 H(29-31) 2 *'}"
    names = ["a", "b", "c", "d", "e", "f", "g"]
    checked: list[str] = []
    real = stream_module.check_entry
    monkeypatch.setattr(
        stream_module,
        "check_entry",
        lambda checker, name, *a, **k: checked.append(name) or real(checker, name, *a, **k),
    )
    config, problems = read_config(write(tmp_path, [f"{n}: {text}" for n in names]))
    monkeypatch.undo()
    assert checked == ["a"]  # the settings once; each H schedule by its own name
    assert [(p.line, p.path) for p in problems] == [
        (4, "entries.b.cron"),
        (7, "entries.e.cron"),
        (8, "entries.f.cron"),
        (9, "entries.g.cron"),
    ]
    assert all("never occurs in month field" in p.message for p in problems)
    assert config is not None and list(config.entries) == ["a", "c", "d"]
    utc = {"zone": ZoneInfo("Europe/Berlin"), "defaults": {}}
    alone = validate_entry("d", {"task": "app.t", "cron": "0 0 H(29-31) 2 *"}, **utc)
    assert config.entries["d"] == alone


def test_names_of_other_lengths_written_alike_are_not_checked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = stream_module.check_entry
    monkeypatch.setattr(
        stream_module,
        "check_entry",
        lambda checker, name, *a, **k: checked.append(name) or real(checker, name, *a, **k),
    )
    names = ["x" * (1 + i % 10) + str(i) for i in range(50)]  # their messages' sizes differ
    config, problems = read_config(write(tmp_path, [f"{n}: {ALIKE[1]}" for n in names]))
    assert checked == [names[0]] and problems == []
    assert config is not None and list(config.entries) == names
