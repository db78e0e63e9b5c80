"""Unit tests of the consumer's policies: retries, backoff, rate limits, settings."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from taskqueue.message import Message, RetryPolicy
from worker.rate_limit import RateLimiter, parse_rate
from worker.retries import backoff_delay, effective_policy, matches_autoretry
from worker.settings import SettingsError, load_settings, parse_duration


class AppError(Exception):
    pass


class SubAppError(AppError):
    pass


def test_full_jitter_backoff_is_within_the_capped_exponential_ceiling() -> None:
    rng = random.Random(7)
    base, cap = timedelta(seconds=1), timedelta(seconds=10)
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (4, 10), (40, 10), (100, 10)]:
        draws = [backoff_delay(attempt, base, cap, rng).total_seconds() for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        # full jitter spreads over the whole range, not just near the ceiling
        assert min(draws) < ceiling * 0.2 and max(draws) > ceiling * 0.8


def test_autoretry_matches_subclasses_and_names_but_not_others() -> None:
    sub = f"{__name__}.SubAppError"
    assert matches_autoretry(sub, (AppError,))
    assert matches_autoretry(sub, ("AppError",))
    assert matches_autoretry("builtins.KeyError", (LookupError,))
    assert matches_autoretry("KeyError", (Exception,))
    assert not matches_autoretry("builtins.KeyError", (AppError,))
    assert not matches_autoretry(None, (Exception,))
    assert not matches_autoretry(sub, ())
    # an exception class the consumer cannot import is matched by its name
    assert matches_autoretry("elsewhere.Boom", ("Boom",))
    assert not matches_autoretry("elsewhere.Boom", (AppError,))


def test_message_retry_policy_overrides_the_task_default() -> None:
    task = SimpleNamespace(max_retries=2, retry_backoff=0.5, retry_backoff_max=3)
    plain = Message(id="a", task="t")
    policy = effective_policy(plain, task)
    assert (policy.max_retries, policy.backoff, policy.backoff_max) == (
        2,
        timedelta(seconds=0.5),
        timedelta(seconds=3),
    )
    custom = Message(id="b", task="t", retry=RetryPolicy(max_retries=5))
    assert effective_policy(custom, task).max_retries == 5


def test_rate_limit_parses_units() -> None:
    assert parse_rate("10/s") == 10
    assert parse_rate("120/m") == 2
    assert parse_rate("36/h") == pytest.approx(0.01)
    assert parse_rate(None) is None and parse_rate("0/s") is None
    with pytest.raises(ValueError, match="rate_limit"):
        parse_rate("ten per second")


def test_token_bucket_allows_the_rate_and_says_how_long_to_wait() -> None:
    limiter = RateLimiter()
    starts = [limiter.acquire("t", "2/s", 100.0) for _ in range(3)]
    assert starts[:2] == [timedelta(0), timedelta(0)]
    assert starts[2] == timedelta(seconds=0.5)
    assert limiter.acquire("t", "2/s", 100.5) == timedelta(0)
    assert limiter.acquire("other", None, 100.5) == timedelta(0)


def test_durations() -> None:
    assert parse_duration("1h30m", "x") == timedelta(minutes=90)
    assert parse_duration("500ms", "x") == timedelta(milliseconds=500)
    assert parse_duration(2, "x") == timedelta(seconds=2)
    with pytest.raises(ValueError, match="--lease: 'soon' is not a duration"):
        parse_duration("soon", "--lease")


def test_settings_refuse_unknown_worker_keys_with_a_suggestion(tmp_path: Path) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text("broker: redis://x/0\nimports: [a.b]\nworker: {leese: 5s, pool: forks}\n")
    with pytest.raises(SettingsError) as info:
        load_settings(config)
    assert any("unknown key 'leese' (did you mean 'lease'?)" in p for p in info.value.problems)
    assert any("worker.pool" in p for p in info.value.problems)
    config.write_text("broker: redis://x/0\nimports: [a.b]\nworker:\n  lease: 5s\n  queues: a,b\n")
    settings = load_settings(config)
    assert settings.broker == "redis://x/0" and settings.imports == ["a.b"]
    assert settings.worker == {"lease": timedelta(seconds=5), "queues": ["a", "b"]}
