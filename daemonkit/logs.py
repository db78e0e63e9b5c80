"""Logging set-up shared by ``beat`` and ``worker``: one handler on the root logger, to stderr.

Two formats:

- ``text``: ``LEVEL logger: message key=value ...``: the fields the code passed as
  ``extra={...}`` follow the message as ``key=value`` (values with spaces or quotes as JSON
  strings), so ``grep task_id=...`` finds every line about one task. Under systemd, when
  stderr *is* the journal stream (the device/inode in ``$JOURNAL_STREAM`` match fd 2, as
  sd-daemon(3) recommends checking), no timestamp is written (journald stamps every line
  itself) and each line starts with a ``<N>`` syslog priority prefix, so ``journalctl -p
  warning`` filters by our levels. Elsewhere each line starts with an ISO-8601 UTC time.
- ``json``: one object per line with ``time``, ``level``, ``logger``, ``message``, every field
  the code passed as ``extra={...}`` (``entry``, ``fire_id``, ``lateness_ms``, ``task``, ...),
  and ``exc`` (the formatted traceback as one string) when an exception is attached.

Only the CLIs call :func:`configure_logging`; library code just uses ``logging.getLogger``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

# Attributes every LogRecord has; anything else on a record came from ``extra={...}``.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}

# syslog priorities (sd-daemon(3) prefixes) for the standard levels; see _priority().
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Marks the handler this module installs, so a second call replaces it instead of adding one.
_OURS = "_taskqueue_logs_handler"


def _iso_utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def _priority(levelno: int) -> int:
    for threshold, priority in _PRIORITIES:
        if levelno >= threshold:
            return priority
    return 7  # debug


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields the code passed as ``extra={...}`` (every attribute a bare record lacks)."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


def _text_value(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)  # null, true, 12.5: the same spelling as in JSON lines
    text = str(value)
    if text == "" or any(c.isspace() or c in "\"'=" for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    """``[<N>]`` or ``TIME `` then ``LEVEL logger: message key=value ...`` (traceback on
    following lines)."""

    def __init__(self, *, journal: bool) -> None:
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname} {record.name}: {record.getMessage()}"
        fields = extra_fields(record)
        if fields:
            line += "".join(f" {key}={_text_value(value)}" for key, value in fields.items())
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        if self.journal:
            # journald splits on newlines; prefix every line so a traceback keeps its priority.
            prefix = f"<{_priority(record.levelno)}>"
            return "\n".join(prefix + part for part in line.split("\n"))
        return f"{_iso_utc(record.created)} {line}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values that JSON cannot hold are written as ``str(value)``."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(extra_fields(record))
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def stderr_is_journal(stream: TextIO | None = None, environ: dict[str, str] | None = None) -> bool:
    """True when ``stream`` (default stderr) is the journal stream systemd connected us to.

    ``$JOURNAL_STREAM`` is inherited by children whose stderr may be a file or a pipe, so the
    variable alone is not enough: its ``device:inode`` must match the stream's file.
    """
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    target = sys.stderr if stream is None else stream
    try:
        st = os.fstat(target.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (OSError, ValueError, AttributeError):
        # No real file descriptor (e.g. a test's StringIO) or a malformed variable.
        return False


def parse_level(level: str) -> int:
    """``"info"``/``"INFO"`` -> ``logging.INFO``; ValueError naming the valid levels otherwise."""
    name = level.strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in _LEVELS:
        valid = ", ".join(_LEVELS)
        raise ValueError(f"log level: unknown level {level!r} (expected one of {valid})")
    return logging.getLevelNamesMapping()[name]


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """Send every log record at ``level`` and above to stderr in ``fmt``.

    Idempotent: a second call replaces the handler installed by the first (handlers added by
    others, e.g. pytest's, are left alone). Raises ValueError for an unknown level or format.
    """
    levelno = parse_level(level)
    formatter: logging.Formatter
    if fmt == "json":
        formatter = JsonFormatter()
    elif fmt == "text":
        formatter = TextFormatter(journal=stderr_is_journal())
    else:
        raise ValueError(f"log format: unknown format {fmt!r} (expected 'text' or 'json')")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(levelno)
