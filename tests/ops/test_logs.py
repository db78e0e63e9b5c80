"""configure_logging: JSON lines with extras, journald-aware text, idempotence, bad levels.

The formats are checked in child processes whose stderr is a real file, as under systemd.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemonkit.logs import JsonFormatter, TextFormatter, configure_logging, parse_level

PROGRAM = textwrap.dedent(
    """
    import logging, os, sys
    from daemonkit.logs import configure_logging
    fmt = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "journal":
        st = os.fstat(2)
        os.environ["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    elif len(sys.argv) > 2:
        os.environ["JOURNAL_STREAM"] = sys.argv[2]
    configure_logging("info", fmt)
    configure_logging("INFO", fmt)  # twice: still one line per record
    log = logging.getLogger("beat.dispatch")
    log.debug("hidden at info")
    log.info(
        "fire %s id=%s", "nightly", "f-1",
        extra={"entry": "nightly", "fire_id": "f-1", "lateness_ms": 12.5, "when": object},
    )
    logging.getLogger("worker.consumer").warning(
        "task %s slow", "t.add", extra={"task": "t.add", "task_id": "abc", "runtime_s": 2.0}
    )
    try:
        {}["missing"]
    except KeyError:
        logging.getLogger("worker.consumer").exception("task %s crashed", "t.boom")
    """
)


def run_program(tmp_path: Path, *args: str) -> list[str]:
    stderr_path = tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    with stderr_path.open("wb") as stderr:
        subprocess.run(
            [sys.executable, "-c", PROGRAM, *args],
            stderr=stderr,
            env=env,
            check=True,
            timeout=30,
        )
    return stderr_path.read_text().splitlines()


def test_json_lines_carry_extras_and_exceptions(tmp_path: Path) -> None:
    lines = run_program(tmp_path, "json")
    assert len(lines) == 3, lines  # one object per record, the traceback inside it
    fire, slow, crash = (json.loads(line) for line in lines)
    assert fire["level"] == "INFO"
    assert fire["logger"] == "beat.dispatch"
    assert fire["message"] == "fire nightly id=f-1"
    assert fire["entry"] == "nightly" and fire["fire_id"] == "f-1"
    assert fire["lateness_ms"] == 12.5
    assert fire["when"] == str(object)  # not JSON: written as text, the line still parses
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", fire["time"])
    assert slow["level"] == "WARNING"
    assert (slow["task"], slow["task_id"], slow["runtime_s"]) == ("t.add", "abc", 2.0)
    assert crash["message"] == "task t.boom crashed"
    assert crash["exc"].startswith("Traceback") and "KeyError: 'missing'" in crash["exc"]
    assert "exc" not in fire


def test_text_outside_journald_has_an_iso_time(tmp_path: Path) -> None:
    lines = run_program(tmp_path, "text")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 INFO beat\.dispatch: fire nightly id=f-1"
        r" entry=nightly fire_id=f-1 lateness_ms=12\.5 when=\"<class 'object'>\"",
        lines[0],
    )
    # The extra fields follow the message as key=value, so grep finds a task's every line.
    assert lines[1].endswith(
        "WARNING worker.consumer: task t.add slow task=t.add task_id=abc runtime_s=2.0"
    )
    assert lines[2].endswith("ERROR worker.consumer: task t.boom crashed")
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "KeyError: 'missing'"


def test_text_to_the_journal_has_priorities_and_no_time(tmp_path: Path) -> None:
    lines = run_program(tmp_path, "text", "journal")
    assert lines[0].startswith("<6>INFO beat.dispatch: fire nightly id=f-1 entry=nightly ")
    assert (
        lines[1]
        == "<4>WARNING worker.consumer: task t.add slow task=t.add task_id=abc runtime_s=2.0"
    )
    assert lines[2] == "<3>ERROR worker.consumer: task t.boom crashed"
    # Every traceback line keeps the error priority (journald splits records on newlines).
    assert all(line.startswith("<3>") for line in lines[3:])
    assert lines[-1] == "<3>KeyError: 'missing'"


def test_inherited_journal_stream_that_is_not_our_stderr_is_ignored(tmp_path: Path) -> None:
    lines = run_program(tmp_path, "text", "1:2")
    assert re.match(r"\d{4}-\d\d-\d\dT", lines[0]), lines[0]


@pytest.fixture
def restore_root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_twice_keeps_one_handler_and_others_handlers(
    restore_root_logger: logging.Logger,
) -> None:
    root = restore_root_logger
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    before = len(root.handlers)
    configure_logging("DEBUG", "json")
    configure_logging("warning", "text")
    assert len(root.handlers) == before + 1
    assert foreign in root.handlers
    assert root.level == logging.WARNING


def test_unknown_level_or_format_is_a_value_error(restore_root_logger: logging.Logger) -> None:
    with pytest.raises(ValueError, match=r"log level: unknown level 'LOUD'.*DEBUG, INFO"):
        configure_logging("LOUD", "text")
    with pytest.raises(ValueError, match="log format: unknown format 'xml'"):
        configure_logging("INFO", "xml")  # type: ignore[arg-type]
    assert parse_level("warn") == logging.WARNING
    assert parse_level(" error ") == logging.ERROR


@pytest.mark.parametrize("formatter", [TextFormatter(journal=True), JsonFormatter()])
def test_formatters_survive_pickling_for_pool_processes(formatter: logging.Formatter) -> None:
    # The prefork pool sends the parent's formatter to each child process pickled.
    copy = pickle.loads(pickle.dumps(formatter))
    record = logging.LogRecord("w", logging.ERROR, __file__, 1, "task %s", ("t.x",), None)
    record.task = "t.x"
    assert copy.format(record) == formatter.format(record)
    assert "task t.x" in copy.format(record)
