"""The sd_notify protocol, implemented directly (it is one datagram; no libsystemd needed).

systemd starts a ``Type=notify`` service with ``$NOTIFY_SOCKET`` naming an ``AF_UNIX``
datagram socket (a path, or ``@name`` in the abstract namespace). The service sends
newline-separated ``KEY=VALUE`` assignments: ``READY=1`` once it can do its job, ``WATCHDOG=1``
at least every ``WatchdogSec`` (given as ``$WATCHDOG_USEC``), ``STATUS=...`` for
``systemctl status``, ``STOPPING=1`` when shutting down. Outside systemd every call is a no-op
that returns False, so the daemons call these unconditionally.

Why :class:`Watchdog` has no thread: the watchdog exists to restart a daemon whose main loop is
stuck (a deadlock, a hung broker call without a timeout, an endless tick). A background thread
pinging on a timer keeps pinging while the loop is stuck, so systemd would never notice. The
ping is therefore sent only from :meth:`Watchdog.healthy`, which the main loop calls once per
iteration: if the loop stops iterating, the pings stop and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# Variables systemd sets for the main process only; children must not inherit them (see
# child_environ), or their notifications would be refused (NotifyAccess=main) and logged.
NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def _address(value: str) -> str | None:
    """``$NOTIFY_SOCKET`` as a socket address: a path, or ``@name`` -> abstract ``\\0name``."""
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # e.g. "vsock:..." (systemd 253+ for VMs): not something a service on a host receives.
    return None


def notify(*fields: str) -> bool:
    """Send ``KEY=VALUE`` fields in one datagram to ``$NOTIFY_SOCKET``.

    Returns True if sent, False outside systemd or if the send failed (logged: a failed
    notification must not stop the daemon; systemd's own timeouts handle a service that never
    reports). Raises ValueError for a field that is not one ``KEY=VALUE`` line.
    """
    for item in fields:
        key, sep, _value = item.partition("=")
        if not sep or not key or "\n" in item:
            raise ValueError(f"sd_notify field {item!r}: expected one KEY=VALUE line")
    target = os.environ.get("NOTIFY_SOCKET", "")
    if not target:
        return False
    address = _address(target)
    if address is None:
        log.warning("NOTIFY_SOCKET=%s: unsupported address; not notifying systemd", target)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(fields).encode())
    except OSError as e:
        log.warning("sd_notify to %s failed: %s", target, e)
        return False
    return True


def _one_line(text: str) -> str:
    # A newline would start a second assignment: a STATUS could otherwise forge READY=1 etc.
    return " ".join(text.splitlines())


def ready(status: str | None = None) -> bool:
    """Tell systemd start-up is complete (``Type=notify`` units stay "activating" until then)."""
    fields = ["READY=1"]
    if status is not None:
        fields.append(f"STATUS={_one_line(status)}")
    return notify(*fields)


def stopping(status: str | None = None) -> bool:
    """Tell systemd the service is shutting down."""
    fields = ["STOPPING=1"]
    if status is not None:
        fields.append(f"STATUS={_one_line(status)}")
    return notify(*fields)


def status(text: str) -> bool:
    """Set the one-line status shown by ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}")


def watchdog_ping() -> bool:
    """Send one ``WATCHDOG=1`` keep-alive. Prefer :class:`Watchdog`, which paces the pings."""
    return notify("WATCHDOG=1")


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """``WatchdogSec`` in seconds if the watchdog is on for *this* process, else None.

    systemd sets ``$WATCHDOG_PID`` to the main PID; a child that inherited the variables (a
    forked pool process, a subprocess) sees another PID and must not ping.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    try:
        interval_us = int(usec)
        if pid and int(pid) != os.getpid():
            return None
    except ValueError:
        return None
    if interval_us <= 0:
        return None
    return interval_us / 1_000_000


def child_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment without the notify variables, for ``subprocess`` children.

    A child (e.g. the beat a ``worker -B`` supervises) would otherwise send its own READY and
    WATCHDOG messages to the parent's unit, which systemd refuses (``NotifyAccess=main``).
    """
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if k not in NOTIFY_VARIABLES}


class Watchdog:
    """Paces watchdog pings from the main loop: call :meth:`healthy` once per iteration.

    Sends ``WATCHDOG=1`` at most every ``interval / 2`` (half, so one late iteration does not
    trip the watchdog) and only from inside :meth:`healthy`, never from a thread: see the
    module docstring. Disabled (every call a cheap no-op) when the watchdog is off.
    """

    def __init__(
        self,
        interval_s: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        ping: Callable[[], bool] = watchdog_ping,
    ) -> None:
        self.interval_s = watchdog_interval() if interval_s is None else interval_s
        if self.interval_s is not None and self.interval_s <= 0:
            raise ValueError(f"watchdog interval: must be positive, got {self.interval_s}")
        self._clock = clock
        self._ping = ping
        self._last: float | None = None
        self.pings = 0

    @property
    def enabled(self) -> bool:
        return self.interval_s is not None

    @property
    def period_s(self) -> float | None:
        """Seconds between pings; a loop must never block longer than this between calls."""
        return None if self.interval_s is None else self.interval_s / 2

    def healthy(self) -> bool:
        """The main loop is alive: ping if a ping is due. Returns True if one was sent."""
        period = self.period_s
        if period is None:
            return False
        now = self._clock()
        if self._last is not None and now - self._last < period:
            return False
        self._last = now
        if self._ping():
            self.pings += 1
            return True
        return False
