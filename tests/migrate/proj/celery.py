"""The ``proj.celery:app`` form: settings on the app (``app.conf``), never run."""

import os

from celery import Celery
from celery.schedules import crontab as cron

app = Celery("proj", broker=os.environ.get("BROKER", "amqp://guest@localhost//"))
other = Celery("other")

app.conf.update(timezone="America/New_York", enable_utc=True)
other.conf.timezone = "Asia/Tokyo"
app.conf.beat_schedule = {
    "morning": {
        "task": "proj.tasks.morning",
        "schedule": cron(hour=7, minute=0),
        "options": {"priority": 9},
    },
}

if os.environ.get("DEBUG"):
    app.conf.beat_schedule = {}

raise RuntimeError("beat import-celery executed proj/celery.py")
