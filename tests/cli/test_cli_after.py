"""`beat next --after` / `--start`: a date alone, a date with an offset, and the suggestions
printed for a naive date-time (each of which must then be accepted)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest

from beat.cli.options import parse_instant
from tests.cli.runner import run


def hourly(capsys: pytest.CaptureFixture[str], after: str, tz: str = "America/New_York") -> str:
    code, out, err = run(
        capsys, "next", "--cron", "0 * * * *", "--tz", tz, "--after", after, "-n", "1", "--json"
    )
    assert code == 0, err
    return str(json.loads(out)[0])


def test_a_date_alone_is_local_midnight_of_the_schedules_zone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert hourly(capsys, "2099-01-01") == "2099-01-01T01:00:00-05:00"
    assert hourly(capsys, "2099-01-01", tz="Asia/Tokyo") == "2099-01-01T01:00:00+09:00"
    # an entry: its own zone
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "timezone: Europe/Berlin\nentries:\n  e:\n    task: t\n    cron: '0 * * * *'\n"
    )
    code, out, err = run(
        capsys, "next", "e", "--config", str(config), "--after", "2099-01-01", "-n", "1", "--json"
    )
    assert code == 0, err
    assert json.loads(out) == ["2099-01-01T01:00:00+01:00"]
    # a skipped midnight (Apia, 2011-12-30): the fixed-time rule, the instant of the change
    assert hourly(capsys, "2011-12-30", tz="Pacific/Apia") == "2011-12-31T01:00:00+14:00"


def test_a_date_with_an_offset_is_midnight_at_that_offset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the two forms the old message suggested, and refused (or misread as 05:00)
    assert hourly(capsys, "2099-01-01Z") == "2098-12-31T20:00:00-05:00"  # 00:00Z = 19:00 EST
    assert hourly(capsys, "2099-01-01-05:00") == "2099-01-01T01:00:00-05:00"
    assert hourly(capsys, "2099-01-01+01:00") == "2098-12-31T19:00:00-05:00"


@pytest.mark.parametrize(
    "naive", ["2099-01-01T05:00", "2099-01-01 05:00", "2099-01-01T05", "2099-01-01T05:00:07.25"]
)
def test_every_suggested_form_is_accepted(capsys: pytest.CaptureFixture[str], naive: str) -> None:
    for option in ("--after", "--start"):
        extra = ["--every", "1h"] if option == "--start" else ["--cron", "0 * * * *"]
        code, _, err = run(capsys, "next", *extra, option, naive, "-n", "1")
        assert code == 2
        match = re.search(r"add a UTC offset \(e\.g\. (\S+) or (\S+)\)", err)
        assert match is not None, err
        for suggestion in match.groups():
            code, out, err = run(capsys, "next", *extra, option, suggestion, "-n", "1", "--json")
            assert code == 0, (suggestion, err)
            assert len(json.loads(out)) == 1


def test_without_a_zone_a_date_alone_is_refused_with_forms_that_work() -> None:
    # `beat send --eta` has no schedule zone to read a date in
    with pytest.raises(click.ClickException) as exc:
        parse_instant("2099-01-01", "--eta")
    match = re.search(r"add a UTC offset \(e\.g\. (\S+) or (\S+)\)", exc.value.format_message())
    assert match is not None
    assert [parse_instant(s, "--eta").isoformat() for s in match.groups()] == [
        "2099-01-01T00:00:00+00:00",
        "2099-01-01T00:00:00-05:00",
    ]
