"""A running beat and the CLI facing entries too big to send and YAML alias bombs (issue 11,
items 3 and 4): nothing crashes, the last valid configuration keeps firing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beat.cli import main
from beat.config import load_config
from beat.dispatch import Dispatcher
from beat.entries import Entry
from beat.planner import Fire
from beat.state import StateStore
from beat.time.schedules import Interval
from taskqueue.message import MAX_MESSAGE_BYTES, Message, fire_id
from taskqueue.redis import RedisBroker
from tests.config.test_config_bounds import BOMB_ENTRY
from tests.daemon.conftest import StartBeat, drain_ids, drain_url
from tests.daemon.test_daemon_exactly_once import ms_to_dt
from tests.daemon.test_daemon_reload import CONFIG_A, running_beat
from tests.taskqueue import single

BIG = json.dumps("x" * (MAX_MESSAGE_BYTES + 50_000))
BIG_ENTRY = f"  big:\n    task: noop\n    every: 1s\n    kwargs:\n      blob: {BIG}\n"


def test_reload_with_an_oversized_entry_or_an_alias_bomb_keeps_the_last_config(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    cfg, beat = running_beat(tmp_path, redis_url, start_beat)

    cfg.write_text(CONFIG_A + BIG_ENTRY)
    beat.wait_for_log("config reload rejected")
    assert "entries.big.kwargs" in beat.log()
    time.sleep(1.5)

    started = time.monotonic()
    cfg.write_text(CONFIG_A + BOMB_ENTRY + "\n")
    beat.wait_for_log("config reload rejected", count=2, timeout=10)
    assert time.monotonic() - started < 5
    assert "alias" in beat.log()
    time.sleep(1.5)
    assert beat.proc.poll() is None, "a bad edit must never stop a running beat"
    assert beat.stop() == 0

    seen = drain_url(redis_url)
    assert max(seen.values()) == 1
    a = sorted(ms_to_dt(k) for k in seen if k.startswith("a@"))
    assert len(a) >= 5
    assert all((y - x).total_seconds() == 1 for x, y in pairwise(a)), "no gap while rejecting"
    assert not any(k.startswith(("big@", "bomb@")) for k in seen)


def test_start_with_an_oversized_entry_exits_2_with_the_error(
    tmp_path: Path, redis_url: str, start_beat: StartBeat
) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(CONFIG_A + BIG_ENTRY)
    beat = start_beat(cfg, tmp_path / "schedule.db", redis_url)
    assert beat.proc.wait(30) == 2
    log = beat.log()
    assert "Traceback" not in log
    assert "entries.big.kwargs" in log and str(MAX_MESSAGE_BYTES) in log


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "beat", *argv], capture_output=True, text=True, timeout=60
    )


def test_trigger_of_an_oversized_entry_prints_one_line(tmp_path: Path, redis_url: str) -> None:
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(CONFIG_A + BIG_ENTRY)
    trigger = _cli("trigger", "big", "--config", str(cfg), "--broker", redis_url)
    assert trigger.returncode == 2, trigger.stderr
    assert "Traceback" not in trigger.stderr
    assert len(trigger.stderr.strip().splitlines()) == 1
    assert "entries.big.kwargs" in trigger.stderr


def test_send_of_an_oversized_message_prints_one_line(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: a 1 MiB argument is over the kernel's limit for one argv string.
    kwargs = json.dumps({"blob": "x" * (MAX_MESSAGE_BYTES + 10)})
    with pytest.raises(SystemExit) as exc:
        main(["send", "noop", "--kwargs", kwargs, "--config", str(tmp_path / "none.yaml"),
              "--broker", redis_url])  # fmt: skip
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert f"exceeds the limit of {MAX_MESSAGE_BYTES}" in err


def _entry(name: str, **kw: object) -> Entry:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return Entry(
        name=name, task="noop", schedule=Interval(timedelta(minutes=1), start, ZoneInfo("UTC")),
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_one_fire_that_cannot_be_encoded_does_not_stop_the_others(
    tmp_path: Path, redis_url: str
) -> None:
    # Entries built directly, past the validator (defence in depth): a bad fire is logged and
    # dropped, every other fire of the batch is sent.
    good = _entry("good")
    big = _entry("big", kwargs={"blob": "x" * (MAX_MESSAGE_BYTES + 10)})
    entries = {e.name: e for e in (good, big)}
    when = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    fires = [Fire(n, when, fire_id(n, when)) for n in ("big", "good")]
    broker = RedisBroker(redis_url)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        result = Dispatcher().dispatch(broker, store, entries, fires, when)
        assert result.sent == 1
        assert result.failed == 1
        seen = drain_ids(broker)
    finally:
        store.close()
        broker.close()
    assert set(seen) == {fire_id("good", when)}


def test_an_expiry_past_the_calendar_means_never_and_the_entry_fires(
    tmp_path: Path, redis_url: str
) -> None:
    # expires: 3000000d passed `beat check`, then every fire failed on an OverflowError.
    cfg = tmp_path / "schedules.yaml"
    cfg.write_text(
        "entries:\n  e:\n    task: noop\n    every: 1m\n    start: 2026-01-01T00:00:00Z\n"
        "    options:\n      expires: 3000000d\n"
    )
    entries = load_config(cfg).entries
    when = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    broker = RedisBroker(redis_url)
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        result = Dispatcher().dispatch(broker, store, entries, [Fire("e", when, "e@1")], when)
        delivery = single.claim(broker, ["default"], "t", timedelta(seconds=30), timedelta(0))
    finally:
        store.close()
        broker.close()
    assert result.sent == 1
    assert delivery is not None
    assert Message.decode(delivery.payload).expires is None
