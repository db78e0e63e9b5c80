# ruff: noqa: E501  (tables of exact messages read better unwrapped)
"""load_config: every kind of problem, with its exact message, path and YAML line."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beat.config import Config, load_config
from beat.entries import DEFAULT_GRACE, CatchUp, TaskOptions
from beat.errors import ConfigError, Problem
from beat.time.schedules import Calendar, Cron, Interval, Once
from worker.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    """(line, path, message) of every problem ``text`` has."""
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return [(p.line, p.path, p.message) for p in info.value.problems]


def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text))


# --- the example and the happy path ---------------------------------------------------------


def test_repo_example_loads() -> None:
    config = load_config(REPO / "schedules.yaml")
    assert list(config.entries) == [
        "heartbeat",
        "disk-usage",
        "nightly-cleanup",
        "fortnightly-standup",
        "month-end",
    ]
    assert config.timezone == ZoneInfo("Europe/Berlin")
    assert config.broker_url == f"sqlite:///{REPO / 'queue.db'}"
    assert [name for name, e in config.entries.items() if not e.enabled] == ["month-end"]
    nightly = config.entries["nightly-cleanup"]
    assert nightly.schedule == Cron(
        "30 2 * * *", ZoneInfo("America/New_York"), name="nightly-cleanup"
    )
    assert nightly.options == TaskOptions(time_limit=timedelta(minutes=5), max_retries=2)
    assert nightly.grace == timedelta(hours=1)  # from defaults
    standup = config.entries["fortnightly-standup"]
    assert standup.schedule == Calendar(2, "weeks", time(9, 30), date(2026, 1, 5), config.timezone)


def test_spec_example_loads(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
timezone: Europe/Berlin
broker: redis://localhost:6379/0
imports: [myapp.tasks]
defaults:
  queue: default
  catch_up: latest
  grace: 1h
entries:
  nightly-report:
    task: myapp.tasks.nightly_report
    cron: "30 2 * * *"
    timezone: America/New_York
    queue: reports
    args: [42]
    kwargs: {full: true}
    options: {priority: 5, expires: 1h, soft_time_limit: 5m, time_limit: 6m, max_retries: 3}
  heartbeat:
    task: myapp.tasks.ping
    every: 30s
    start: 2026-01-01T00:00:00Z
  standup:
    task: myapp.tasks.standup
    calendar: {every: 2w, at: "09:30", start: 2026-01-05}
  launch:
    task: myapp.tasks.launch
    at: 2026-12-01T09:00
  payroll:
    task: myapp.tasks.payroll
    cron: "0 9 L * *"
    enabled: false
""",
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert config.broker_url == "redis://localhost:6379/0"
    assert config.imports == ("myapp.tasks",)
    report = config.entries["nightly-report"]
    assert (report.queue, report.args, report.kwargs) == ("reports", (42,), {"full": True})
    assert report.options == TaskOptions(
        priority=5,
        expires=timedelta(hours=1),
        soft_time_limit=timedelta(minutes=5),
        time_limit=timedelta(minutes=6),
        max_retries=3,
    )
    heartbeat = config.entries["heartbeat"]
    assert heartbeat.schedule == Interval(
        timedelta(seconds=30), datetime(2026, 1, 1, tzinfo=UTC), berlin
    )
    launch = config.entries["launch"].schedule
    assert launch == Once(datetime(2026, 12, 1, 8, 0, tzinfo=UTC), berlin)  # 09:00 CET
    assert config.entries["payroll"].enabled is False
    assert config.entries["payroll"].catch_up is CatchUp.LATEST


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    config = load(tmp_path, "# nothing yet\n")
    assert config.entries == {}
    assert config.timezone == ZoneInfo("UTC")  # never the host's zone
    assert config.path == (tmp_path / "schedules.yaml").resolve()
    assert config.broker_url == f"sqlite:///{tmp_path.resolve() / 'queue.db'}"
    assert (config.source, config.log_format, config.metrics_port) == ("yaml", "text", None)


def test_other_sections(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
source: postgresql+psycopg://beat@db/beat
imports: myapp.tasks
worker: {queues: [a, b], concurrency: 4, pool: threads, lease: 30s, loglevel: info}
beat: {state: /var/lib/beat/schedule.db, lookahead: 0, leader_lease: 10s, loglevel: DEBUG}
metrics_port: 9100
log_format: json
""",
    )
    assert config.source == "postgresql+psycopg://beat@db/beat"
    assert config.imports == ("myapp.tasks",)
    assert config.worker == {
        "queues": ["a", "b"],
        "concurrency": 4,
        "pool": "threads",
        "lease": "30s",  # raw: the worker parses its own section
        "loglevel": "info",
    }
    assert type(config.worker) is dict and type(config.worker["queues"]) is list
    assert config.beat == {
        "state": "/var/lib/beat/schedule.db",
        "lookahead": timedelta(0),
        "leader_lease": timedelta(seconds=10),
        "loglevel": "debug",
    }
    assert (config.metrics_port, config.log_format) == (9100, "json")


def test_naive_start_is_local_and_dates_are_midnight(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
timezone: America/New_York
entries:
  naive: {task: t, every: 1h, start: "2026-03-08T02:30"}   # in the spring-forward gap
  day: {task: t, every: 1d, start: 2026-07-01}
  offset: {task: t, every: 1d, start: "2026-07-01T00:00:00+02:00"}
  gap: {task: t, at: "2026-03-08T02:30"}
  fold: {task: t, at: 2026-11-01T01:30}
""",
    )
    start = {name: getattr(e.schedule, "start", None) for name, e in config.entries.items()}
    assert start["naive"] == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # the instant of the change
    assert start["day"] == datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    assert start["offset"] == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert config.entries["gap"].schedule.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    assert config.entries["fold"].schedule.next_after(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )  # first pass, EDT


def test_sexagesimal_times_stay_strings(tmp_path: Path) -> None:
    """YAML 1.1 reads 9:30 as 570; calendar `at: 9:30` must mean half past nine."""
    config = load(
        tmp_path, "entries:\n  s: {task: t, calendar: {every: 1d, at: 9:30, start: 2026-01-01}}\n"
    )
    assert config.entries["s"].schedule == Calendar(
        1, "days", time(9, 30), date(2026, 1, 1), ZoneInfo("UTC")
    )


def test_merge_keys_and_anchors(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
entries:
  a: &base
    task: t
    every: 1m
    queue: q1
  b:
    <<: *base
    queue: q2
""",
    )
    b = config.entries["b"]
    assert (b.task, b.queue, b.schedule) == ("t", "q2", config.entries["a"].schedule)


# --- defaults -------------------------------------------------------------------------------


def test_defaults_merge_per_key_and_per_option(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """\
defaults:
  queue: bulk
  catch_up: all
  grace: 5m
  options: {priority: 3, soft_time_limit: 1m, max_retries: 2}
entries:
  plain: {task: t, every: 1m}
  own:
    task: t
    every: 1m
    queue: urgent
    catch_up: none
    grace: 10s
    options: {priority: 9, time_limit: 2m}
""",
    )
    plain, own = config.entries["plain"], config.entries["own"]
    assert (plain.queue, plain.catch_up, plain.grace) == ("bulk", CatchUp.ALL, timedelta(minutes=5))
    assert plain.options == TaskOptions(
        priority=3, soft_time_limit=timedelta(minutes=1), max_retries=2
    )
    assert (own.queue, own.catch_up, own.grace) == ("urgent", CatchUp.NONE, timedelta(seconds=10))
    assert own.options == TaskOptions(
        priority=9,
        soft_time_limit=timedelta(minutes=1),
        time_limit=timedelta(minutes=2),
        max_retries=2,
    )
    assert config.defaults["grace"] == timedelta(minutes=5)


def test_no_defaults_uses_built_in_ones(tmp_path: Path) -> None:
    entry = load(tmp_path, "entries:\n  a: {task: t, every: 1m}\n").entries["a"]
    assert (entry.queue, entry.catch_up, entry.grace) == ("default", CatchUp.LATEST, DEFAULT_GRACE)
    assert entry.options == TaskOptions()


def test_limit_conflict_across_defaults(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
defaults:
  options: {soft_time_limit: 10m}
entries:
  a:
    task: t
    every: 1m
    options:
      time_limit: 5m
""",
    )
    assert found == [
        (8, "entries.a.options.time_limit",
         "time_limit (5m) must not be shorter than soft_time_limit (10m)"),
    ]  # fmt: skip


def test_bad_defaults_reported_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
defaults:
  queue: "no spaces"
  grace: soon
  priority: 3
entries:
  a: {task: t, every: 1m}
  b: {task: t, every: 1m}
""",
    )
    assert found == [
        (2, "defaults.queue",
         "expected a queue name (letters, digits, _ . : @ -), got the string 'no spaces'"),
        (3, "defaults.grace", "'soon' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (4, "defaults", "unknown key 'priority'"),
    ]  # fmt: skip


# --- problems: every kind, all at once ------------------------------------------------------


def test_unknown_key_message_and_str(tmp_path: Path) -> None:
    path = write(tmp_path, "entries:\n  heartbeat:\n    task: ping\n    evry: 30s\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    # The misspelled kind is the only problem: no extra "no schedule" noise.
    assert info.value.problems == [
        Problem(str(path), 4, "entries.heartbeat", "unknown key 'evry' (did you mean 'every'?)")
    ]
    assert str(info.value) == (
        f"{path}:4: entries.heartbeat: unknown key 'evry' (did you mean 'every'?)"
    )


def test_every_problem_in_one_error(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
timezone: Europe/Berln
brokr: redis://x
entries:
  two:
    task: t
    cron: "* * * * *"
    every: 5m
  none:
    task: t
  badcron:
    task: t
    cron: "60 * * * *"
  fields:
    task: t
    cron: "* * * *"
  many:
    task: t
    every: 5x
    args: 5
    kwargs: {1: 2}
    options: {priority: 10, soft_time_limit: 5m, time_limit: 1m, max_retries: -1, retries: 3}
    catch_up: sometimes
    grace: 0
    enabled: yes please
    queue: "a b"
    timezone: Mars/Olympus
  "bad name":
    task: ""
    at: tomorrow
  notask:
    every: 1m
""",
    )
    assert found == [
        (1, "timezone", "unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)"),
        (2, "", "unknown key 'brokr' (did you mean 'broker'?)"),
        (7, "entries.two",
         "'cron' and 'every' are both given: use exactly one of cron, every, calendar, at, solar"),
        (8, "entries.none", "no schedule: give one of cron, every, calendar, at, solar"),
        (12, "entries.badcron.cron", "minute: 60 is out of range 0-59"),
        (15, "entries.fields.cron", "expected 5 fields, got 4"),
        (18, "entries.many.every", "'5x' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (19, "entries.many.args", "expected a list, got the number 5"),
        (20, "entries.many.kwargs", "keys must be strings, got the number 1"),
        (21, "entries.many.options", "unknown key 'retries' (did you mean 'max_retries'?)"),
        (21, "entries.many.options.priority", "expected a whole number from 0 to 9, got the number 10"),
        (21, "entries.many.options.max_retries", "expected a whole number >= 0, got the number -1"),
        (21, "entries.many.options.time_limit",
         "time_limit (1m) must not be shorter than soft_time_limit (5m)"),
        (22, "entries.many.catch_up", "expected one of latest, all, none, got the string 'sometimes'"),
        (23, "entries.many.grace", "0 must be positive"),
        (24, "entries.many.enabled", "expected true or false, got the string 'yes please'"),
        (25, "entries.many.queue",
         "expected a queue name (letters, digits, _ . : @ -), got the string 'a b'"),
        (26, "entries.many.timezone", "unknown time zone 'Mars/Olympus'"),
        (27, "entries.bad name", "invalid entry name 'bad name': use 1-200 letters, digits and _ . : @ -"),
        (28, "entries.bad name.task", "expected a task name, got the string ''"),
        (29, "entries.bad name.at",
         "expected a date and time like 2026-12-01T09:00 (local) or 2026-12-01T09:00:00Z, "
         "got the string 'tomorrow'"),
        (30, "entries.notask", "missing required key 'task' (the task name to send)"),
    ]  # fmt: skip


def test_two_or_three_kinds(tmp_path: Path) -> None:
    found = problems(
        tmp_path, "entries:\n  x:\n    task: t\n    every: 1m\n    at: 2026-01-01T00:00:00Z\n"
        "    cron: '* * * * *'\n",
    )  # fmt: skip
    assert found == [
        (5, "entries.x",
         "'every', 'at' and 'cron' are all given: use exactly one of cron, every, calendar, at, solar"),
    ]  # fmt: skip


def test_calendar_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
entries:
  cal:
    task: t
    calendar: {every: 1M, at: "25:00", start: 2026-01-05T00:00:00, when: x}
  missing:
    task: t
    calendar: {at: "09:00"}
  scalar:
    task: t
    calendar: 2w
""",
    )
    assert found == [
        (4, "entries.cal.calendar", "unknown key 'when'"),
        (4, "entries.cal.calendar.every",
         "'1M' has an unknown unit 'M' (write months as 'mo' (e.g. 3mo))"),
        (4, "entries.cal.calendar.at", "expected a local time like \"09:30\", got the string '25:00'"),
        (4, "entries.cal.calendar.start", "expected a date like 2026-01-05, got a date-time"),
        (7, "entries.missing.calendar", "missing required key 'every' (e.g. every: 2w)"),
        (7, "entries.missing.calendar", "missing required key 'start' (e.g. start: 2026-01-05)"),
        (10, "entries.scalar.calendar",
         "expected a mapping {every, at, start}, got the string '2w'"),
    ]  # fmt: skip


def test_value_type_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
entries:
  a:
    task: [t]
    cron: 5
    args: [2026-01-01]
    kwargs: [1]
    options: 3
  b: just a string
  7: {task: t, every: 1m}
  c: {task: t, every: 1m, start: someday, kwargs: {x: .nan}}
""",
    )
    assert found == [
        (3, "entries.a.task", "expected a task name, got a list"),
        (4, "entries.a.cron", "expected a cron expression like '30 2 * * *', got the number 5"),
        (5, "entries.a.args[0]", "a date is not JSON; quote it to send it as a string"),
        (6, "entries.a.kwargs", "expected a mapping of names to values, got a list"),
        (7, "entries.a.options", "expected a mapping of task options, got the number 3"),
        (8, "entries.b", "expected a mapping of entry settings, got the string 'just a string'"),
        (9, "entries", "entry name must be a string, got the number 7 (quote it)"),
        (10, "entries.c.start",
         "expected a date-time like 2026-01-01T00:00:00Z, got the string 'someday'"),
        (10, "entries.c.kwargs.x", "nan cannot be sent in a JSON message"),
    ]  # fmt: skip


def test_sections_problems(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
worker: {concurrency: 0, pool: fork, lease: 5x, queus: [a], loglevel: loud}
beat: {lookahead: -1s, leader_lease: 10s, extra: 1}
metrics_port: 70000
log_format: xml
imports: [a.b, "1x"]
source: mysql
broker: 5
timezone: localtime
""",
    )
    assert found == [
        (1, "worker", "unknown key 'queus' (did you mean 'queues'?)"),
        (1, "worker.lease", "'5x' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
        (1, "worker.concurrency", "expected a whole number >= 1, got the number 0"),
        (1, "worker.pool",
         "expected one of prefork, threads, got the string 'fork' (did you mean 'prefork'?)"),
        (1, "worker.loglevel",
         "expected one of debug, info, warning, error, critical, got the string 'loud'"),
        (2, "beat", "unknown key 'extra'"),
        (2, "beat.lookahead", "'-1s' must be positive"),
        (3, "metrics_port", "expected a whole number from 1 to 65535, got the number 70000"),
        (4, "log_format", "expected one of text, json, got the string 'xml'"),
        (5, "imports[1]", "expected a module name like myapp.tasks, got the string '1x'"),
        (6, "source",
         "expected 'yaml' or a database URL like postgresql://user@host/db, got the string 'mysql'"),
        (7, "broker", "expected a broker URL like redis://localhost:6379/0, got the number 5"),
        (8, "timezone", "'localtime' is the host's zone; name an IANA zone like Europe/Berlin"),
    ]  # fmt: skip


# --- YAML-level problems --------------------------------------------------------------------


def test_duplicate_keys(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
entries:
  dup:
    task: a
    task: b
    every: 1m
  dup:
    task: c
    every: 1m
entries: {}
""",
    )
    assert found == [
        (4, "entries.dup", "duplicate key 'task' (first at line 3)"),
        (6, "entries", "duplicate key 'dup' (first at line 2)"),
        (9, "", "duplicate key 'entries' (first at line 1)"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("entries:\n  a: [\n", 3, "malformed YAML: while parsing a flow node: did not find expected node content"),
        ("entries:\n  a: 1\n b: 2\n", 3,
         "malformed YAML: while parsing a block mapping: did not find expected key"),
        ("a:\n\t- 1\n", 2, "malformed YAML: while scanning for the next token: found character "
                           "that cannot start any token (a tab: YAML indents with spaces only)"),
        ("a: 'open\n", 2, "malformed YAML: while scanning a quoted scalar: found unexpected end of stream"),
        ("a: \x01\n", 1, "malformed YAML: unacceptable character #x0001"),
    ],
)  # fmt: skip
def test_malformed_yaml_is_one_problem_with_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    assert problems(tmp_path, text) == [(line, "", message)]


def test_yaml_structure_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, "- a\n- b\n") == [
        (1, "", "expected a mapping at the top level (timezone, entries, ...), got a list")
    ]
    assert problems(tmp_path, "entries: [a]\n") == [
        (1, "entries", "expected a mapping of entry names to entries, got a list")
    ]
    assert problems(tmp_path, "imports: []\n---\nimports: []\n") == [
        (2, "", "expected a single YAML document, found another")
    ]
    assert problems(tmp_path, "imports: *nope\n") == [(1, "imports", "undefined alias 'nope'")]
    assert problems(tmp_path, "imports: &a [*a]\n") == [
        (1, "imports[0]", "undefined alias 'a'"),
        (1, "imports[0]", "expected a module name like myapp.tasks, got nothing (null)"),
    ]
    assert problems(tmp_path, "imports: !!python/name:os.system x\n") == [
        (1, "imports", "unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'")
    ]
    assert problems(tmp_path, "imports: !custom x\n") == [
        (1, "imports", "unsupported YAML tag '!custom'")
    ]
    assert problems(tmp_path, "metrics_port: !!int nine\n") == [
        (1, "metrics_port", "invalid int value 'nine': invalid literal for int() with base 10: 'nine'"),
        (1, "metrics_port", "expected a whole number from 1 to 65535, got the string 'nine'"),
    ]  # fmt: skip
    assert problems(tmp_path, "? [a]\n: 1\n") == [
        (1, "", "a key must be a plain value, not a mapping or list")
    ]


def test_file_problems(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.problems == [Problem(str(missing), None, "", "file not found")]
    assert str(info.value) == f"{missing}: file not found"

    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert [p.message for p in info.value.problems] == ["is a directory, not a file"]

    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"entries:\n  a: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(binary)
    assert [(p.line, p.message) for p in info.value.problems] == [(2, "not UTF-8 text (byte 14)")]


def test_utf8_bom_and_unicode_names(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes("\ufeffentries:\n  a: {task: t, every: 1m, kwargs: {msg: 'grüße'}}\n".encode())
    assert load_config(path).entries["a"].kwargs == {"msg": "grüße"}


def test_large_file_keeps_exact_lines(tmp_path: Path) -> None:
    """5,000 entries load in file order; a problem at the end still has its exact line."""
    lines = ["entries:"]
    for i in range(5000):
        lines += [f"  job-{i}:", "    task: t", f"    every: {i + 1}s"]
    lines += ["  last:", "    task: t", "    cron: '* * 32 * *'"]
    found = problems(tmp_path, "\n".join(lines) + "\n")
    assert found == [(len(lines), "entries.last.cron", "day-of-month: 32 is out of range 1-31")]
    config = load(tmp_path, "\n".join(lines[:-3]) + "\n")
    assert list(config.entries)[-1] == "job-4999"
    assert config.entries["job-4999"].schedule == Interval(
        timedelta(seconds=5000), None, ZoneInfo("UTC")
    )


def test_worker_commands_are_checked_by_beat_check_and_the_worker(tmp_path: Path) -> None:
    text = """\
worker:
  commands: [/usr/bin/df, df, /usr/bin/../bin/sh, 5]
  command_env: [GREETING, "1BAD"]
"""
    expected = [
        ("worker.commands[1]", "expected an absolute, normalised path like /usr/bin/df, got 'df'"),
        ("worker.commands[2]",
         "expected an absolute, normalised path like /usr/bin/df, got '/usr/bin/../bin/sh'"),
        ("worker.commands[3]", "expected a string, got int"),
        ("worker.command_env[1]", "expected an environment variable name, got '1BAD'"),
    ]  # fmt: skip
    assert [(path, message) for _, path, message in problems(tmp_path, text)] == expected
    with pytest.raises(SettingsError) as info:
        load_settings(write(tmp_path, text))
    where = str(tmp_path / "schedules.yaml")
    assert info.value.problems == [f"{where}: {path}: {message}" for path, message in expected]
    good = "worker: {commands: [/usr/bin/df], command_env: [GREETING]}\n"
    assert load(tmp_path, good).worker == {"commands": ["/usr/bin/df"], "command_env": ["GREETING"]}
    assert load_settings(write(tmp_path, good)).worker["commands"] == ["/usr/bin/df"]
    assert problems(tmp_path, "worker: {commands: /usr/bin/df}\n") == [
        (1, "worker.commands", "expected a list of absolute program paths, got str")
    ]


def test_the_example_allows_exactly_the_programs_it_runs() -> None:
    config = load_config(REPO / "schedules.yaml")
    used = {e.args[0] for e in config.entries.values() if e.task == "command"}
    assert used and set(config.worker["commands"]) == used
