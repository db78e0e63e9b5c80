"""The read-only commands on the default SQLite set-up import neither SQLAlchemy nor redis-py
(issue 12 item 6: importing SQLAlchemy alone took ~175 ms of the 150 ms a read-only command may
take). Structural, not timing: each command runs in a subprocess under ``python -X importtime``
and the modules it imported are read from that trace, on real files with real content (a queue
with a task status and a leader lease, a run state written by the store).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from beat.lease_name import DEFAULT_LEASE_NAME
from taskqueue.broker import ACK, Settlement, TaskState, TaskStatus
from taskqueue.message import Message
from taskqueue.sqlite import SQLiteBroker
from tests.cli.conftest import seed_state
from tests.taskqueue import single

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "redis")
_IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example configuration (embedded SQLite queue) beside a used queue and state file."""
    here = tmp_path_factory.mktemp("readonly")
    shutil.copy(ROOT / "schedules.yaml", here / "schedules.yaml")
    broker = SQLiteBroker(f"sqlite:///{here / 'queue.db'}")
    try:
        assert broker.enqueue_once(Message(id="done-task", task="log"))
        assert broker.enqueue_once(Message(id="waiting-task", task="log"))
        delivery = single.claim(broker, ["default"], "w", timedelta(seconds=30), timedelta(0))
        assert delivery is not None
        status = TaskStatus(delivery.message_id, "log", TaskState.SUCCESS, 1, "ok")
        assert broker.settle_many([Settlement(delivery, ACK, status)]) == [True]
        assert broker.acquire_lease(DEFAULT_LEASE_NAME, "leader-host:42", timedelta(hours=1))
    finally:
        broker.close()
    seen = datetime.now(UTC) - timedelta(hours=1)
    seed_state(here / "schedules.yaml", here / "schedule.db", seen)
    return here


def _imports(
    cwd: Path, *argv: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "beat", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, set(_IMPORTED.findall(result.stderr))


@pytest.mark.parametrize(
    ("argv", "code", "shows"),
    [
        (["-s", "schedule.db", "list"], 0, "leader-host:42"),
        (["-s", "schedule.db", "list", "--json"], 0, "nightly-cleanup"),
        (["-s", "schedule.db", "next", "nightly-cleanup", "-n", "1"], 0, "2"),
        (["queues"], 0, "default"),
        (["status", "done-task"], 0, "SUCCESS"),
        (["status", "no-such-id"], 3, "unknown"),
        (["check"], 0, ""),
    ],
)
def test_read_only_commands_do_not_import_sqlalchemy_or_redis(
    setup: Path, argv: list[str], code: int, shows: str
) -> None:
    result, modules = _imports(setup, *argv)
    assert result.returncode == code, result.stderr[-2000:]
    assert shows in result.stdout
    assert "beat.cli" in modules  # the trace was read
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"beat {' '.join(argv)} imported {heavy[:5]}"


def test_the_fast_path_creates_no_file(tmp_path: Path) -> None:
    """No queue file, no state file yet: the commands answer and leave the directory as it
    was (the broker used to create ``queue.db`` by looking)."""
    shutil.copy(ROOT / "schedules.yaml", tmp_path / "schedules.yaml")
    for argv in (["-s", "schedule.db", "list"], ["queues"], ["status", "x"]):
        result, modules = _imports(tmp_path, *argv)
        assert result.returncode in (0, 3), result.stderr[-2000:]
        assert not [m for m in modules if m.split(".")[0] in HEAVY]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schedules.yaml"]


# Start-up budget (issues 12 and 17: read-only commands under 150 ms, `beat next` under 100 ms),
# pinned by what is not imported, never by a clock. Besides SQLAlchemy and redis-py (above):
# - the modules of the other commands (the group imports a command's module when it runs);
# - subprocess: croniter asks platform.architecture(), which runs the `file` program;
# - socket: the leader's host name is only needed by a beat that runs;
# - importlib.metadata: only `beat --version` asks for the tzdata distribution's version;
# - importlib.resources (without croniter, whose dateutil imports it): zoneinfo's way into the
#   tzdata package, whose files beat reads by path;
# - croniter and python-dateutil (~15 ms): our own code expands a cron expression without H
#   (beat/time/cron_fields.py); astral: only a solar entry computes with it;
# - beat.web and taskqueue.redis_url where nothing needs them: a config without web users or a
#   Redis broker checks neither (hashlib, three dataclasses).
# - taskqueue.broker and taskqueue.records (~20 ms with the message codec they bring): a read
#   defines only the records it returns (taskqueue.status_records), the lease name comes
#   without the elector's broker protocols;
# - tempfile (shutil, bz2, lzma, random): only creating a SQLite file needs it;
# - logging (~3 ms with traceback and string) and the leader elector: only a running beat logs
#   (the CLI's own errors are click's), `beat list` needs the lease's name only;
# - decimal (~2.5 ms): durations are read exactly with integers;
# - hashlib (~2.5 ms, OpenSSL): an entry's digest is blake2b, taken from _blake2 directly
#   (the example has no jitter, the other user of blake2b);
# - taskqueue.redis_url (three dataclasses) by the broker commands: the example's queue is SQLite.
# - beat.state (the SQLAlchemy store, with the fire log and the write statements; ~6 ms): a read
#   takes the records from beat.state_rows and the store's URL from beat.state_names (issue 17).
NEVER = (
    *("subprocess", "socket", "importlib.metadata", "croniter", "dateutil", "astral"),
    *("taskqueue.broker", "taskqueue.records", "tempfile", "logging", "beat.leader"),
    *("decimal", "hashlib", "taskqueue.redis_url"),
    *("beat.state", "beat.state_log", "beat.state_sql"),
    # A schedule kind's module is imported by the first entry of that kind: the example has
    # no solar entry (issue 17).
    "beat.time.solar",
    # The planner's records and the roster's table (five dataclasses, the due index): the
    # fires shown come from beat.pending, the rules the daemon's planner uses (issue 17).
    *("beat.planner", "beat.roster", "beat.due_index"),
)
CONFIG_ONLY = ("beat.web", "taskqueue.redis_url")
# queues and status read only `broker:` (issue 17): not the entries' validation (beat.config.top
# and .entry, beat.entries, the message codec; ~35 ms), nor `beat list`'s warnings.
BROKER_ONLY = ("beat.config.top", "beat.config.entry", "beat.entries", "taskqueue.message")
_COMMAND_MODULE = {"list": "inspect", "next": "next", "queues": "queues", "status": "queues"}


@pytest.mark.parametrize(
    ("argv", "code", "also_not"),
    [
        (["-s", "schedule.db", "list"], 0, ()),
        (["-s", "schedule.db", "next", "nightly-cleanup", "-n", "1"], 0, CONFIG_ONLY),
        # An ad-hoc schedule reads no configuration at all.
        (
            ["next", "--cron", "30 2 * * *", "-n", "1"],
            0,
            (
                *("yaml", "beat.config", "sqlite3", "hashlib", "decimal", "beat.planner"),
                *("beat.time.solar", *CONFIG_ONLY),
            ),
        ),
        (
            ["next", "--every", "90s", "-n", "1"],
            0,
            ("yaml", "beat.config", "croniter", "dateutil", "importlib.resources"),
        ),
        (["queues"], 0, BROKER_ONLY),
        (["status", "done-task"], 0, BROKER_ONLY),
        (["check"], 0, ("hashlib", "sqlite3", *CONFIG_ONLY)),
    ],
)
def test_read_only_commands_import_only_what_they_use(
    setup: Path, argv: list[str], code: int, also_not: tuple[str, ...]
) -> None:
    from beat.cli import COMMANDS

    command = next(a for a in argv if a in COMMANDS)
    own = f"beat.cli.{_COMMAND_MODULE.get(command, command)}"
    assert COMMANDS[command] == own
    result, modules = _imports(setup, *argv)
    assert result.returncode == code, result.stderr[-2000:]
    assert "beat.cli" in modules and own in modules  # the trace was read
    others = sorted(set(COMMANDS.values()) - {own})
    unwanted = [*NEVER, *also_not, *others]
    imported = sorted(m for m in modules if any(m == u or m.startswith(f"{u}.") for u in unwanted))
    assert imported == [], f"beat {' '.join(argv)} imported {imported}"


# `beat next ENTRY` and `beat list` on a configuration read before (issue 17: under 100 ms and
# 150 ms) take its entries from the parsed-configuration cache (beat/cli/cached.py): not PyYAML
# (~11 ms) nor the configuration's validation (beat.config, daemonkit's YAML reader, the routes
# and, for `next`, the message codec; ~25 ms): beat.pending asks taskqueue.message (four
# dataclasses) only for an instant that is not UTC already (`list` shows a message's size).
CACHED = ("yaml", "_yaml", "beat.config", "daemonkit.yaml_tree", "taskqueue.routes")
CACHED_NEXT = ("taskqueue.message", "taskqueue.message_template", "taskqueue.callbacks_wire")


@pytest.mark.parametrize(
    ("argv", "also_not"),
    [
        (("-s", "schedule.db", "next", "nightly-cleanup", "-n", "3"), CACHED_NEXT),
        (("-s", "schedule.db", "list"), ()),
    ],
)
def test_a_read_only_command_on_an_unchanged_configuration_reads_no_yaml(
    setup: Path, tmp_path: Path, argv: tuple[str, ...], also_not: tuple[str, ...]
) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    first, read = _imports(setup, *argv, env=env)
    again, cached = _imports(setup, *argv, env=env)
    assert first.returncode == again.returncode == 0, again.stderr[-2000:]
    assert again.stdout == first.stdout
    assert ("UTC" if "next" in argv else "leader-host:42") in again.stdout
    assert "yaml" in read and "beat.cli.cached" in cached  # both traces were read
    unwanted = (*NEVER, *CACHED, *also_not)
    imported = sorted(m for m in cached if any(m == u or m.startswith(f"{u}.") for u in unwanted))
    assert imported == [], f"a cached `beat {' '.join(argv)}` imported {imported}"


def test_an_every_entry_imports_no_cron_parser(tmp_path: Path) -> None:
    """`beat next` on a configuration of `every:` entries imports neither the cron parser nor
    its matcher (issue 17: a schedule kind's modules come with the first entry of that kind),
    nor, without a `worker:` section, the worker's settings parser; its fires are still every
    10 seconds, and `check` and `list` agree."""
    (tmp_path / "schedules.yaml").write_text("entries:\n  nos: {task: log, every: 10s}\n")
    cron = ("beat.time.cron_fields", "beat.time.cron_match", "beat.time.cron_hash")
    cron = (*cron, "beat.time.solar", "taskqueue.worker_settings")
    for argv in (["next", "nos", "-n", "3", "--json"], ["check"], ["list"]):
        result, modules = _imports(tmp_path, *argv)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "beat.cli" in modules  # the trace was read
        assert sorted(m for m in modules if m in cron) == [], argv
        if argv[0] == "next":
            fires = [datetime.fromisoformat(t) for t in json.loads(result.stdout)]
            assert [b - a for a, b in pairwise(fires)] == [timedelta(seconds=10)] * 2


def test_every_name_of_beat_config_still_imports() -> None:
    """beat.config imports each room on first use (so that `beat queues` can import one):
    every public name is still there, and is the room's own."""
    import beat.config
    from beat.config.top import load_config

    for name in beat.config.__all__:
        assert getattr(beat.config, name) is not None, name
    assert beat.config.load_config is load_config
    with pytest.raises(AttributeError, match="no_such_name"):
        beat.config.no_such_name  # noqa: B018


def test_the_command_table_names_every_command(tmp_path: Path) -> None:
    """``beat.cli.COMMANDS`` is the one list of commands: each names the module that registers
    it, and every ``@cli.command``/``@cli.group`` in beat/cli is in it (a command left out
    would never load)."""
    from beat.cli import COMMANDS

    defined = {}
    for source in sorted((ROOT / "beat" / "cli").glob("*.py")):
        for name in re.findall(r'^@cli\.(?:command|group)\("([^"]+)"', source.read_text(), re.M):
            defined[name] = f"beat.cli.{source.stem}"
    assert defined == COMMANDS
    shown = subprocess.run(
        [sys.executable, "-m", "beat", "--help"], cwd=tmp_path, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    listed = shown.stdout.split("Commands:")[1].split()
    assert all(name in listed for name in COMMANDS), shown.stdout


# Patterns that only some configurations or options use, compiled on first use by re's cache
# (issue 17): importing their modules, as every read-only command does, compiles none of them.
_LAZY_PATTERNS = {
    "beat.cli.options": "_DATE_WITH_OFFSET",  # --after/--start with a date
    "beat.cli.render": "_SECRET_KEY",  # `beat config` redacts
    "beat.config.top": "_MODULE",  # a config with `imports:`
    "beat.config.schedule": "_CLOCK",  # calendar entries
    "beat.time.durations": "_STEP",  # calendar entries
}
_COMPILED_AT_IMPORT = f"""
import re, sys
seen = []
original = re._compile
def recording(pattern, flags):
    seen.append(getattr(pattern, "pattern", pattern))
    return original(pattern, flags)
re._compile = recording
for module in {sorted(_LAZY_PATTERNS)!r}:
    __import__(module)
re._compile = original
for module, name in {_LAZY_PATTERNS!r}.items():
    value = getattr(sys.modules[module], name)
    print(module, name, (value if isinstance(value, str) else value.pattern) in seen)
"""


def test_rarely_used_patterns_are_compiled_on_first_use() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _COMPILED_AT_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    compiled = [line for line in result.stdout.splitlines() if line.endswith(" True")]
    assert len(result.stdout.splitlines()) == len(_LAZY_PATTERNS)
    assert compiled == []
