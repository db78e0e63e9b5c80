"""Celery crontab fields -> cron text with the same values (Celery 5's parser rules)."""

from __future__ import annotations

from typing import Any

import pytest

from beat.migrate.celery_cron import CronRefused, crontab_to_cron


@pytest.mark.parametrize(
    ("fields", "cron"),
    [
        ({}, "* * * * *"),
        ({"minute": 0, "hour": 0}, "0 0 * * *"),
        ({"minute": "*/15"}, "*/15 * * * *"),
        ({"minute": "1,13,30-45,50-59/2"}, "1,13,30-45,50,52,54,56,58 * * * *"),
        ({"hour": "0,8-17/2"}, "* 0,8,10,12,14,16 * * *"),
        ({"day_of_week": "mon-fri"}, "* * * * 1-5"),
        ({"day_of_week": "Sunday,saturday"}, "* * * * 0,6"),
        ({"day_of_week": "fri-mon"}, "* * * * 0,1,5,6"),  # Celery wraps a reversed range
        ({"day_of_week": [0, 1, 2, 3, 4, 5, 6], "day_of_month": 1}, "* * 1 * *"),
        ({"day_of_week": "*/2"}, "* * * * */2"),
        ({"month_of_year": "2-12/2"}, "* * * 2,4,6,8,10,12 *"),
        ({"day_of_month": "1-7", "day_of_week": "mon,fri"}, "* * * * 1#1,5#1"),
        ({"day_of_month": "29-31", "day_of_week": 5}, "* * * * 5#5"),
        ({"minute": {0, 30}, "hour": (9,)}, "0,30 9 * * *"),
    ],
)
def test_crontab_fields(fields: dict[str, Any], cron: str) -> None:
    assert crontab_to_cron(fields) == cron


@pytest.mark.parametrize(
    ("fields", "field", "why"),
    [
        ({"minute": 60}, "minute", "60 is out of range 0-59"),
        ({"day_of_week": 7}, "day_of_week", "7 is out of range 0-6"),
        ({"hour": "5/2"}, "hour", "'5/2' is not a crontab pattern (a step needs * or a range"),
        ({"hour": "noon"}, "hour", "'noon' is neither a number nor a day name"),
        ({"minute": "*/0"}, "minute", "a step of 0"),
        ({"hour": 1.5}, "hour", "expected an int"),
        ({"day_of_month": "2-30/2", "day_of_week": "fri"}, "day_of_week", "matching both"),
    ],
)
def test_crontab_refusals(fields: dict[str, Any], field: str, why: str) -> None:
    with pytest.raises(CronRefused) as e:
        crontab_to_cron(fields)
    assert e.value.field == field and why in e.value.why
