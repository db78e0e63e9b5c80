"""Small things the beat loop consults on each turn: whether the config file changed, whether
the wall clock stepped back, and how long to back off while dispatch keeps failing."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from beat.time.durations import format_duration

# The loop's own lines: logged under the service's name, as they were before this module.
log = logging.getLogger("beat.service")

# A wall clock that falls behind the monotonic clock by more than this between two ticks was
# stepped back (NTP correcting a fast clock, an operator, a VM restored): logged, since every
# fire then waits until the wall clock catches up again.
CLOCK_STEP_TOLERANCE = timedelta(seconds=1)
# Broker outage: retry with exponential backoff between these bounds.
RETRY_MIN = timedelta(milliseconds=200)
RETRY_MAX = timedelta(seconds=10)


@dataclass
class FileStamp:
    """Enough of a file's identity to notice an edit without reading it on every check."""

    path: Path
    stamp: tuple[int, int, int] | None = field(default=None)

    def read(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def changed(self) -> bool:
        now = self.read()
        if now != self.stamp:
            self.stamp = now
            return True
        return False


class ClockWatch:
    """Logs the wall clock stepping back (by how much): beat then sends nothing until it
    catches up, which must not look like a silent hang. The monotonic clock is the reference:
    it never steps."""

    def __init__(self) -> None:
        self._last: tuple[datetime, float] | None = None

    def check(self, now: datetime) -> None:
        mono = time.monotonic()
        last, self._last = self._last, (now, mono)
        if last is None:
            return
        expected = last[0] + timedelta(seconds=mono - last[1])
        back = expected - now
        if back > CLOCK_STEP_TOLERANCE:
            log.warning(
                "the wall clock stepped back by %s (now %s, expected %s); fires due from here "
                "on wait for it, and an instant already sent is not sent again",
                format_duration(timedelta(seconds=round(back.total_seconds()))),
                now.isoformat(timespec="milliseconds"),
                expected.isoformat(timespec="milliseconds"),
            )


class Outage:
    """A dispatch that keeps failing: one log line when it starts and one when it ends (an
    outage must not flood the log), and an exponential backoff in between."""

    def __init__(self) -> None:
        self.failures = 0

    def failed(self, error: Exception) -> None:
        if self.failures == 0:
            log.error("dispatch failed, retrying with backoff: %s", error)
        else:
            log.debug("dispatch still failing: %s", error)

    def recovered(self) -> None:
        if self.failures:
            log.warning("dispatch recovered after %d failed attempt(s)", self.failures)
        self.failures = 0

    def next_delay(self) -> timedelta:
        """Count one more failure; how long to wait before trying again."""
        self.failures += 1
        delay: timedelta = RETRY_MIN * (2 ** min(self.failures, 10))
        return min(RETRY_MAX, delay)
