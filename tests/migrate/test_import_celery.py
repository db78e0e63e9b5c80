"""``beat import-celery``: a Celery beat_schedule read without running it, written as entries
that ``beat check`` accepts and that fire when Celery's would."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from beat.config.keys import SCHEDULE_KINDS
from tests.cli.runner import run

HERE = Path(__file__).parent
CONFIG = HERE / "proj" / "celeryconfig.py"

MAPPED = {
    "heartbeat": {"task": "proj.tasks.ping", "every": "30s"},
    "cleanup-every-5-minutes": {"task": "proj.tasks.cleanup", "every": "5m", "args": [16, 16]},
    "nightly-report": {
        "task": "proj.tasks.nightly_report",
        "cron": "30 2 * * *",
        "queue": "reports",
        "kwargs": {"full": True, "formats": ["pdf", "csv"]},
        # Celery on Redis runs 0 first; beat runs 9 first.
        "options": {"priority": 9, "expires": "1h"},
    },
    "weekday-mornings": {"task": "proj.tasks.standup", "cron": "0 7,9 * * 1-5"},
    "quarter-hourly": {"task": "proj.tasks.poll", "cron": "*/15 * * * *"},
    "first-and-third-monday": {"task": "proj.tasks.payroll", "cron": "0 8 * * 1#1,1#3"},
    "weekend-noon": {"task": "proj.tasks.backup", "cron": "0 12 * * 0,6"},
    "quarterly": {"task": "proj.tasks.invoice", "cron": "0 0 1 */3 *"},
    "hourly": {"task": "proj.tasks.sync", "every": "1h"},
    "limited": {
        "task": "proj.tasks.crunch",
        "every": "10m",
        "options": {"expires": "9m", "soft_time_limit": "1m", "time_limit": "2m"},
    },
}
REFUSED = {
    ("by-variable", 65, "options", "REPORTS"),
    ("routed", 67, "options.routing_key", "use queue"),
    ("relative", 72, "relative", "rounds each fire"),
    ("even-fridays", 75, "schedule.day_of_week", "matching both"),
}
SOLAR = {
    "task": "proj.tasks.open_shutters",
    "solar": {"event": "sunrise", "lat": 52.52, "lon": 13.405},
}


def _import(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code, out, err = run(capsys, "import-celery", *argv)
    assert "proj" not in sys.modules  # read, never imported
    return code, out, err


def _imported(
    capsys: pytest.CaptureFixture[str], source: Path, text: str, *argv: str
) -> tuple[str, str]:
    """Import ``text`` written to ``source`` with ``argv``, which must succeed: (out, err)."""
    source.write_text(text)
    code, out, err = _import(capsys, str(source), *argv)
    assert code == 0, err
    return out, err


# A configuration with Celery 3's setting names (and one schedule the importer cannot read).
OLD_NAMES_CONF = (
    "import datetime\nimport celery.schedules as s\nCELERY_TIMEZONE = 'UTC'\n"
    "CELERYBEAT_SCHEDULE = {'a': {'task': 't', 'schedule': datetime.timedelta(hours=2)},\n"
    "  'b': {'task': 't', 'schedule': s.crontab(minute='5-2', hour=[1, 2, 3])},\n"
    "  'c': {'task': 't', 'schedule': open('x')}}\n"
)
# Two apps, the schedule set through conf.update on the one --app-var names.
APP_VAR_TASKS = (
    "from celery import Celery\nfrom celery.schedules import crontab\n"
    "app = Celery('y', broker='amqp://h')\n"
    "celery_app = Celery('x', broker='redis://h/0')\n"
    "app.conf.update(beat_schedule={'wrong': {'task': 'no', 'schedule': 1}})\n"
    "celery_app.conf.update(\n    timezone='Europe/Paris',\n"
    "    beat_schedule={'sweep': {'task': 't.sweep', 'schedule': crontab(minute=0, hour='*/6'),"
    " 'options': {'queue': 'low', 'priority': 3}}},\n)\n"
)


def _refused(err: str) -> set[tuple[str, int, str]]:
    lines = [line for line in err.splitlines() if line.startswith("refused: ")]
    found = set()
    for line in lines:
        where, _, rest = line.removeprefix("refused: ").partition(": entry ")
        name, _, field_why = rest.partition(": ")
        found.add((name.strip("'"), int(where.rsplit(":", 1)[1]), field_why))
    return found


def _expected_refusals() -> set[tuple[str, int]]:
    out = {(name, line) for name, line, _f, _w in REFUSED}
    if "solar" not in SCHEDULE_KINDS:
        out.add(("sunrise", 55))
    return out


def test_module_path_maps_every_kind_and_refuses_the_rest_with_a_line_each(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(HERE)
    out_file = tmp_path / "schedules.yaml"
    code, _out, err = _import(capsys, "proj.celeryconfig", "-o", str(out_file))
    assert code == 2, err
    assert not out_file.exists()  # nothing written while something is refused
    assert {(n, line) for n, line, _ in _refused(err)} == _expected_refusals()
    for name, line, field, why in REFUSED:
        [text] = [fw for n, ln, fw in _refused(err) if (n, ln) == (name, line)]
        assert text.startswith(f"{field}: ") and why in text, text
    assert "entry 'cleanup every 5 minutes' renamed 'cleanup-every-5-minutes'" in err

    code, _out, err = _import(capsys, "proj.celeryconfig", "--partial", "-o", str(out_file))
    assert code == 0, err
    doc = yaml.safe_load(out_file.read_text())
    assert doc["timezone"] == "Europe/Berlin"
    expected = dict(MAPPED)
    if "solar" in SCHEDULE_KINDS:
        expected["sunrise"] = SOLAR
    assert doc["entries"] == expected
    assert f"{len(expected)} entries written to {out_file}" in err


def _beat(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "beat", *argv], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_written_file_passes_beat_check_and_crontabs_fire_when_celery_would(
    tmp_path: Path,
) -> None:
    written = _beat("import-celery", str(CONFIG), "--partial", "-o", "s.yaml", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    checked = _beat("check", "--config", "s.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout
    # Celery's rule: a day must match day_of_month AND day_of_week (cron's is OR).
    celery_days = {
        "first-and-third-monday": (
            lambda d: d.isoweekday() % 7 == 1 and d.day in {*range(1, 8), *range(15, 22)},
            [8],
            [0],
        ),
        "weekend-noon": (lambda d: d.isoweekday() % 7 in {0, 6}, [12], [0]),
        "weekday-mornings": (lambda d: d.isoweekday() % 7 in {1, 2, 3, 4, 5}, [7, 9], [0]),
        "quarterly": (lambda d: d.day == 1 and d.month in {1, 4, 7, 10}, [0], [0]),
    }
    after = datetime(2026, 12, 20, tzinfo=UTC)
    zone = ZoneInfo("Europe/Berlin")
    for name, (day_ok, hours, minutes) in celery_days.items():
        listed = _beat(
            "next",
            name,
            "--config",
            "s.yaml",
            "--after",
            after.isoformat(),
            "-n",
            "12",
            "--json",
            cwd=tmp_path,
        )
        assert listed.returncode == 0, listed.stderr
        fires = [datetime.fromisoformat(s) for s in json.loads(listed.stdout)]
        assert fires == _celery_fires(day_ok, hours, minutes, after, zone, 12), name


def _celery_fires(day_ok, hours, minutes, after, zone, count):  # type: ignore[no-untyped-def]
    """Celery's crontab fires by brute force over local days (no DST change at these hours)."""
    out: list[datetime] = []
    day = after.astimezone(zone).date()
    while len(out) < count:
        if day_ok(day):
            for h in hours:
                for m in minutes:
                    at = datetime.combine(day, time(h, m), tzinfo=zone)
                    if at > after and len(out) < count:
                        out.append(at)
        day += timedelta(days=1)
    return out


def test_app_form_reads_app_conf_and_refuses_priority_without_a_broker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(HERE)
    code, out, err = _import(capsys, "proj.celery:app")
    assert code == 2
    assert "entry 'morning': options.priority: Celery runs 0 first on Redis" in err
    assert "celery.py:22: beat_schedule set inside a block (if/try/def/with) is not read" in err

    code, out, err = _import(capsys, "proj.celery:app", "--celery-broker", "amqp")
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc == {
        "timezone": "America/New_York",
        "entries": {
            "morning": {
                "task": "proj.tasks.morning",
                "cron": "0 7 * * *",
                "options": {"priority": 9},
            }
        },
    }
    # The other app's settings are not this app's.
    code, out, err = _import(capsys, "proj.celery:other")
    assert code == 2 and "no beat_schedule" in err


def test_zone_is_never_the_hosts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "conf.py"
    source.write_text("enable_utc = False\nbeat_schedule = {'a': {'task': 't', 'schedule': 5}}\n")
    code, _out, err = _import(capsys, str(source))
    assert code == 2
    assert "enable_utc = False without timezone" in err and "--timezone" in err
    code, out, err = _import(capsys, str(source), "--timezone", "Asia/Tokyo")
    assert code == 0, err
    assert yaml.safe_load(out)["timezone"] == "Asia/Tokyo"


def test_old_names_and_an_existing_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = tmp_path / "conf.py"
    out, err = _imported(capsys, source, OLD_NAMES_CONF, "--partial")
    assert yaml.safe_load(out)["entries"] == {
        "a": {"task": "t", "every": "2h"},
        "b": {"task": "t", "cron": "0-2,5-59 1-3 * * *"},
    }
    assert "conf.py:6: entry 'c': schedule: a call the importer does not know: open('x')" in err
    existing = tmp_path / "s.yaml"
    existing.write_text("keep me")
    code, _out, err = _import(capsys, str(source), "-o", str(existing))
    assert code == 2 and "already exists" in err
    assert existing.read_text() == "keep me"


def test_conf_update_of_the_named_app_var(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, _ = _imported(capsys, tmp_path / "tasks.py", APP_VAR_TASKS, "--app-var", "celery_app")
    assert yaml.safe_load(out) == {
        "timezone": "Europe/Paris",
        "entries": {
            "sweep": {
                "task": "t.sweep",
                "cron": "0 */6 * * *",
                "queue": "low",
                "options": {"priority": 6},
            }
        },
    }
