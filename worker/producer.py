"""The process's broker for calls and results: found the way the commands find it, opened on
first use, shared by threads, reopened in a forked child (:mod:`taskqueue.client`)."""

from __future__ import annotations

import os
from pathlib import Path

from taskqueue.client import BrokerHandle
from taskqueue.config_keys import CONFIG_ENV, DEFAULT_CONFIG_FILE, default_broker_url


def locate_broker_url() -> str:
    """The broker named by ``$BEAT_CONFIG`` or ``./schedules.yaml``, or the default queue.

    A ``$BEAT_CONFIG`` naming a missing or broken file is an error (ValueError naming it),
    never a silent fallback to another queue.
    """
    from worker.settings import SettingsError, load_settings

    named = os.environ.get(CONFIG_ENV)
    path = Path(named) if named else Path(DEFAULT_CONFIG_FILE)
    if not path.is_file():
        if named:
            raise ValueError(
                f"${CONFIG_ENV}={named}: no such file (the calls' broker is read there)"
            )
        return default_broker_url(None)
    try:
        settings = load_settings(path)
    except SettingsError as e:
        raise ValueError(f"cannot find the broker: {e}") from None
    return settings.broker or default_broker_url(path)


PRODUCER = BrokerHandle(locate_broker_url)


def configure(*, broker: str | None = None) -> None:
    """Send calls to (and read results from) ``broker``; None finds it again as above."""
    PRODUCER.configure(broker)
