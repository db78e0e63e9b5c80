"""A realistic Celery 5 ``celeryconfig`` (``app.config_from_object("proj.celeryconfig")``).

Fixture of tests/migrate: every kind of entry beat import-celery maps, and those it refuses.
Never imported (Celery is not installed in the test environment; the raise at the end proves
it is not run).
"""

from datetime import timedelta

from celery import schedules
from celery.schedules import crontab, solar

broker_url = "redis://localhost:6379/0"
result_backend = "redis://localhost:6379/1"
timezone = "Europe/Berlin"
enable_utc = True
task_serializer = "json"

REPORTS = "reports"

beat_schedule = {
    "heartbeat": {"task": "proj.tasks.ping", "schedule": 30.0},
    "cleanup every 5 minutes": {
        "task": "proj.tasks.cleanup",
        "schedule": timedelta(minutes=5),
        "args": (16, 16),
    },
    "nightly-report": {
        "task": "proj.tasks.nightly_report",
        "schedule": crontab(minute=30, hour=2),
        "kwargs": {"full": True, "formats": ("pdf", "csv")},
        "options": {"queue": "reports", "priority": 0, "expires": 3600},
    },
    "weekday-mornings": {
        "task": "proj.tasks.standup",
        "schedule": crontab(minute=0, hour="7,9", day_of_week="mon-fri"),
    },
    "quarter-hourly": {"task": "proj.tasks.poll", "schedule": crontab(minute="*/15")},
    "first-and-third-monday": {
        "task": "proj.tasks.payroll",
        "schedule": crontab(minute=0, hour=8, day_of_week=1, day_of_month="1-7,15-21"),
    },
    "weekend-noon": {
        "task": "proj.tasks.backup",
        "schedule": crontab(0, 12, day_of_week="saturday-sun"),
    },
    "quarterly": {
        "task": "proj.tasks.invoice",
        "schedule": crontab(minute=0, hour=0, day_of_month=1, month_of_year="*/3"),
    },
    "hourly": {
        "task": "proj.tasks.sync",
        "schedule": schedules.schedule(run_every=timedelta(hours=1)),
    },
    "sunrise": {"task": "proj.tasks.open_shutters", "schedule": solar("sunrise", 52.52, 13.405)},
    "limited": {
        "task": "proj.tasks.crunch",
        "schedule": 600,
        "options": {"soft_time_limit": 60, "time_limit": 120, "expires": timedelta(minutes=9)},
    },
    # Refused, one line each:
    "by-variable": {
        "task": "proj.tasks.report",
        "schedule": crontab(minute=0),
        "options": {"queue": REPORTS},
    },
    "routed": {
        "task": "proj.tasks.route",
        "schedule": 60,
        "options": {"routing_key": "reports.high"},
    },
    "relative": {"task": "proj.tasks.rel", "schedule": timedelta(hours=1), "relative": True},
    "even-fridays": {
        "task": "proj.tasks.odd",
        "schedule": crontab(minute=0, hour=0, day_of_month="2-30/2", day_of_week="fri"),
    },
}

raise RuntimeError("beat import-celery executed celeryconfig.py")
