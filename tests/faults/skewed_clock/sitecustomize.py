"""A wrong wall clock for one process: imported at start-up (this directory on PYTHONPATH).

``BEAT_TEST_CLOCK_OFFSET_S`` shifts ``time.time``/``time.time_ns`` and ``datetime.now``/
``utcnow`` by that many seconds; ``BEAT_TEST_CLOCK_OFFSET_FILE`` names a file holding the
offset, read on every call, so a test can step the clock while the process runs. Monotonic
clocks stay true, as on a host whose wall clock is off (or stepped) while its timers are fine.
"""

from __future__ import annotations

import datetime as _datetime
import os
import time as _time

_fixed = os.environ.get("BEAT_TEST_CLOCK_OFFSET_S")
_file = os.environ.get("BEAT_TEST_CLOCK_OFFSET_FILE")


def _shift_s() -> float:
    if _file:
        try:
            with open(_file) as f:
                return float(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0
    return float(_fixed or 0)


if _fixed or _file:
    _real_time, _real_time_ns = _time.time, _time.time_ns

    def _time_s() -> float:
        return _real_time() + _shift_s()

    def _time_ns() -> int:
        return _real_time_ns() + int(_shift_s() * 1e9)

    _time.time = _time_s
    _time.time_ns = _time_ns

    class _SkewedDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> _SkewedDatetime:
            return super().now(tz) + _datetime.timedelta(seconds=_shift_s())

        @classmethod
        def utcnow(cls) -> _SkewedDatetime:
            return super().utcnow() + _datetime.timedelta(seconds=_shift_s())

    _datetime.datetime = _SkewedDatetime  # type: ignore[misc]
