"""Fuzz the cron parser: any text gives a Cron or a ScheduleError, never another exception;
a Cron that was accepted also computes its next fires without raising."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from beat.errors import ScheduleError
from beat.time.schedules import Cron

FUZZ = settings(max_examples=1500, deadline=None)
ZONES = st.sampled_from(
    [ZoneInfo(z) for z in ("UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe")]
)
AFTER = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)
VALID = [
    "* * * * *", "*/15 9-17 * * 1-5", "30 2 * * *", "0 0 1 1 *", "0 9 L * *", "0 9 * * 5L",
    "0 9 * * 1#2", "0 9 15W * *", "H H * * *", "H(0-29)/10 * * * *", "@daily", "@hourly",
    "0 12 * JAN,JUL MON-FRI", "59 23 31 12 *", "0 0 29 2 *", "0 0 * * 7", "1-59/2 * * * *",
]  # fmt: skip
# Pieces cron users type, right or wrong: a mutation splices them into valid expressions.
TOKENS = st.sampled_from(
    ["*", "?", "L", "W", "LW", "#", "H", "/", "-", ",", "0", "7", "60", "32", "13", "99999999999",
     "-1", "*/0", "1-", "-5", "5-1", "jan", "FRI", "sun-sat", "1#6", "5L", "L-3", "H(5-1)",
     "@reboot", "@yearly", " ", "\t", "\n", "\x00", "é", "٣"]
)  # fmt: skip


def parses_or_refuses(text: str, zone: ZoneInfo, after: datetime) -> None:
    try:
        cron = Cron(text, zone, name="fuzz")
    except ScheduleError:
        return
    fires = list(islice(cron.iter_after(after), 3))
    assert all(f > after and f.tzinfo is not None for f in fires)
    assert fires == sorted(fires)


@FUZZ
@given(st.text(max_size=40), ZONES, AFTER)
def test_arbitrary_text(text: str, zone: ZoneInfo, after: datetime) -> None:
    parses_or_refuses(text, zone, after)


@FUZZ
@given(
    st.lists(st.text(alphabet="0123456789*/-,LW#H?()abcdefjmnorstuyADFJMNOSTW ", max_size=8),
             min_size=0, max_size=7),
    ZONES,
    AFTER,
)  # fmt: skip
def test_field_shaped_text(fields: list[str], zone: ZoneInfo, after: datetime) -> None:
    parses_or_refuses(" ".join(fields), zone, after)


@FUZZ
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3), TOKENS), min_size=1, max_size=4),
    ZONES,
    AFTER,
)
def test_mutated_valid_expressions(
    base: str, edits: list[tuple[int, int, str]], zone: ZoneInfo, after: datetime
) -> None:
    text = base
    for at, drop, token in edits:
        at = min(at, len(text))
        text = text[:at] + token + text[at + drop :]
    parses_or_refuses(text, zone, after)


def test_the_valid_corpus_parses() -> None:
    after = datetime(2026, 3, 1, tzinfo=UTC)
    for text in VALID:
        assert next(Cron(text, ZoneInfo("America/New_York"), name="x").iter_after(after)) > after
