"""Bounds on what a schedules.yaml may make beat do: alias expansion, nesting, file size and
the size of the messages an entry produces (issue 11, items 3 and 4)."""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from beat.config import load_config
from beat.errors import ConfigError
from taskqueue.message import MAX_MESSAGE_BYTES
from worker.settings import SettingsError, load_settings

# Nine levels of anchors, each alias used ten times: 631 bytes that expand to 10^9 values.
BOMB_ENTRY = "\n".join(
    [
        "  bomb:",
        "    task: noop",
        "    every: 1m",
        "    kwargs:",
        "      l0: &a0 [x, x, x, x, x, x, x, x, x, x]",
        *(f"      l{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)),
    ]
)
BOMB = f"entries:\n{BOMB_ENTRY}\n"
MERGE_BOMB = "\n".join(
    [
        "x0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}",
        *(
            f"x{i}: &m{i} {{{', '.join(f'k{j}: *m{i - 1}' for j in range(10))}}}"
            for i in range(1, 9)
        ),
        "entries:",
        "  e:",
        "    task: noop",
        "    every: 1m",
        "    kwargs: {<<: *m8}",
    ]
)


def _limit_memory() -> None:
    # 1 GiB of address space: the old loader needed far more for these files.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def beat_check(config: Path, timeout: float = 10) -> tuple[int, str, float]:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "beat", "check", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"beat check did not finish within {timeout} s")
    return proc.returncode, proc.stderr, time.monotonic() - started


@pytest.mark.parametrize("text", [BOMB, MERGE_BOMB], ids=["sequences", "merge-keys"])
def test_alias_bomb_is_refused_promptly(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(text)
    assert len(text) < 1000
    code, err, elapsed = beat_check(cfg)
    assert code == 2, err
    assert elapsed < 5
    assert "Traceback" not in err
    # the file and the line of the alias that went over the budget
    assert re.search(rf"{re.escape(str(cfg))}:\d+: \S+: alias \*\w+ ", err)
    assert "would expand the document beyond the limit" in err


def test_aliases_within_the_budget_still_work(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    entries = "\n".join(
        f"  e{i}: {{<<: *common, kwargs: {{n: {i}, tags: *tags}}}}" for i in range(1, 300)
    )
    cfg.write_text(
        "entries:\n"
        "  e0: &common {task: noop, every: 1m, queue: q, kwargs: {tags: &tags [a, b, c, d]}}\n"
        f"{entries}\n"
    )
    config = load_config(cfg)
    assert len(config.entries) == 300
    assert config.entries["e7"].kwargs == {"n": 7, "tags": list("abcd")}


def test_nesting_is_bounded(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    depth = 900  # under libyaml's own limit of 1,000 (the pure-Python parser has none)
    cfg.write_text("entries: {}\nx-deep: " + "[" * depth + "]" * depth + "\n")
    code, err, elapsed = beat_check(cfg)
    assert code == 2, err
    assert elapsed < 5
    assert "nested more than 128 levels" in err
    assert f"{cfg}:2: x-deep" in err


def test_file_size_is_bounded(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    with cfg.open("wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)  # sparse: nothing is written
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert "larger than the limit of 64 MiB" in str(exc.value)


def test_worker_settings_use_the_same_bounded_loader(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(BOMB + "worker:\n  queues: *a8\n")
    started = time.monotonic()
    with pytest.raises(SettingsError) as exc:
        load_settings(cfg)
    assert time.monotonic() - started < 5
    assert str(cfg) in str(exc.value)
    assert "alias" in str(exc.value)


# --- item 3: an entry whose message is too big to send --------------------------------------

BIG = "x" * (MAX_MESSAGE_BYTES + 50_000)


def big_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n"
        "  small:\n    task: noop\n    every: 1m\n"
        f"  big:\n    task: noop\n    every: 1m\n    kwargs:\n      blob: {json.dumps(BIG)}\n"
    )
    return cfg


def test_check_refuses_an_entry_too_big_to_send(tmp_path: Path) -> None:
    cfg = big_config(tmp_path)
    code, err, _ = beat_check(cfg)
    assert code == 2, err
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert str(cfg.resolve()) in line
    assert "entries.big.kwargs" in line
    assert f"{cfg.resolve()}:8: entries.big.kwargs: " in line
    assert str(MAX_MESSAGE_BYTES) in line
    assert "bytes" in line


def test_an_entry_just_under_the_limit_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / "schedules.yaml"
    blob = "x" * (MAX_MESSAGE_BYTES - 2_000)
    cfg.write_text(f"entries:\n  e:\n    task: noop\n    every: 1m\n    kwargs: {{b: {blob}}}\n")
    assert "e" in load_config(cfg).entries


def test_the_limit_is_exact_for_the_largest_fire_and_trigger(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from beat.dispatch import Dispatcher
    from beat.messages import build_message, largest_message_size
    from beat.planner import Fire
    from taskqueue.message import fire_id, new_task_id

    def config(blob: str) -> Path:
        cfg = tmp_path / "schedules.yaml"
        cfg.write_text(
            "entries:\n  e:\n    task: noop\n    every: 1m\n    options: {expires: 1h}\n"
            f"    kwargs: {{b: {blob}}}\n"
        )
        return cfg

    probe = load_config(config("x")).entries["e"]
    blob = "x" * (1 + MAX_MESSAGE_BYTES - largest_message_size(probe))
    entry = load_config(config(blob)).entries["e"]
    assert largest_message_size(entry) == MAX_MESSAGE_BYTES
    # The widest fire the entry can have, and a manual trigger, both encode within the limit.
    late = datetime(9999, 12, 31, 22, 59, 59, 999_000, tzinfo=UTC)
    fire = Fire("e", late, fire_id("e", late))
    assert len(Dispatcher().encode(entry, fire, late.replace(microsecond=999_999)).payload) <= (
        MAX_MESSAGE_BYTES
    )
    now = datetime.now(UTC)
    build_message(entry, message_id=new_task_id(), enqueued_at=now, scheduled_for=None).encode()
    with pytest.raises(ConfigError, match="too large to send"):
        load_config(config(blob + "x"))
