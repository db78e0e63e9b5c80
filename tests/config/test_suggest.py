"""did_you_mean: hints for misspelled keys, names and zones."""

from __future__ import annotations

import subprocess
import sys

import pytest

from taskqueue.config_text import did_you_mean

KEYS = ["task", "cron", "every", "calendar", "at", "timezone", "queue", "args", "kwargs"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("evry", " (did you mean 'every'?)"),
        ("tsk", " (did you mean 'task'?)"),
        ("timezon", " (did you mean 'timezone'?)"),
        ("Queue", " (did you mean 'queue'?)"),
        ("zzzzzz", ""),
        ("every", ""),  # an exact match needs no hint
    ],
)
def test_did_you_mean(name: str, expected: str) -> None:
    assert did_you_mean(name, KEYS) == expected


def test_zone_names() -> None:
    zones = ["Europe/Berlin", "Europe/Bern", "America/New_York"]
    assert did_you_mean("Europe/Berln", zones) == " (did you mean 'Europe/Berlin'?)"
    assert did_you_mean("america/new_york", zones) == " (did you mean 'America/New_York'?)"


def test_no_candidates() -> None:
    assert did_you_mean("x", []) == ""
    assert did_you_mean("x", iter(())) == ""


def test_cheap_import() -> None:
    """Imported on CLI error paths: must not pull in yaml, sqlalchemy or redis."""
    code = (
        "import sys, taskqueue.config_text; "
        "print(sorted(m for m in ('yaml', 'sqlalchemy', 'redis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
