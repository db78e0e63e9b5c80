"""``beat check`` and the worker read the ``worker:`` section with one parser (issue 13 item 2).

Each of them used to validate the section itself and they disagreed: a value one refused the
other accepted (and then failed on at run time). Both are run here as real processes on the
same file; each must refuse it with the same message for the same field.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker.conftest import worker_argv, worker_env

# (the line under `worker:`, the field, the message both must give)
CASES = [
    ("lease: 1:30", "lease", "'1:30' is not a duration (e.g. 500ms, 30s, 5m, 1h30m, 2d)"),
    (
        "loglevel: LOUD",
        "loglevel",
        "expected one of debug, info, warning, error, critical, got the string 'LOUD'",
    ),
    (
        "metrics_port: 70000",
        "metrics_port",
        "expected a whole number from 0 to 65535, got the number 70000",
    ),
    ("name: 5", "name", "expected a worker name, got the number 5"),
]


def _errors(stderr: str, key: str) -> list[str]:
    """The messages of the ``error:`` lines about ``worker.<key>``."""
    found = re.findall(rf"^error: .*worker\.{key}: (.*)$", stderr, flags=re.MULTILINE)
    return [str(message) for message in found]


@pytest.mark.parametrize(("line", "key", "message"), CASES, ids=[c[1] for c in CASES])
def test_beat_check_and_the_worker_refuse_the_same_worker_values(
    tmp_path: Path, line: str, key: str, message: str
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(f"entries: {{}}\nworker:\n  {line}\n", encoding="utf-8")
    check = subprocess.run(
        [sys.executable, "-m", "beat", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    # The worker refuses a bad configuration before it opens the broker (exit 2); one that
    # accepts it starts serving the default queue and is stopped by the timeout.
    try:
        worker = subprocess.run(
            worker_argv("--config", str(config)),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=worker_env(),
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the worker accepted worker.{key} ({line!r}) and started")
    assert (check.returncode, _errors(check.stderr, key)) == (2, [message]), check.stderr
    assert (worker.returncode, _errors(worker.stderr, key)) == (2, [message]), worker.stderr


def test_every_worker_key_has_a_rule() -> None:
    """A key added to WORKER_KEYS without a rule would pass unchecked in both daemons."""
    from taskqueue.config_keys import WORKER_KEYS
    from taskqueue.worker_settings import parse_worker_section

    section, problems = parse_worker_section({key: {"not": "valid"} for key in WORKER_KEYS})
    assert sorted({p.key for p in problems}) == sorted(WORKER_KEYS)
    assert section.given() == {}
