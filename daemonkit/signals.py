"""The daemons' signals: SIGTERM and SIGINT stop, SIGHUP reloads (beat) or recycles (worker).

The handlers only call the given callbacks, which set flags; the daemon's loop acts on them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType


def install_stop_and_hup(stop: Callable[[signal.Signals], None], hup: Callable[[], None]) -> None:
    """Route SIGTERM and SIGINT to ``stop`` (with the signal) and SIGHUP to ``hup``."""

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum))

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        hup()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
