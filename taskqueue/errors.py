"""Errors raised by the task queue.

TaskqueueError
 ├── DecodeError          a message that is not valid (bad JSON, wrong version, bad field)
 ├── MessageTooLarge      a message over the size limit, refused before it is sent
 ├── BrokerError          the broker failed to do what was asked
 │    ├── BrokerUnavailable   the broker cannot be reached (connection refused, timeout)
 │    ├── BrokerDataError     the broker's store holds data of the wrong kind (a key of the
 │    │                       wrong type): no retry helps until someone repairs it
 │    └── Fenced              a fenced enqueue whose lease token is no longer current
 └── UnknownBrokerURL     a broker URL whose scheme we do not support
FieldProblem (ValueError)  a value at fault, "where: problem" (beat's ScheduleError, RouteError)
"""

from __future__ import annotations


class TaskqueueError(Exception):
    """Root of every error raised by :mod:`taskqueue`."""


class FieldProblem(ValueError):
    """A value at fault: ``where`` (a field such as ``minute`` or a path such as
    ``routes.reports.*.priority``) and ``problem``, shown as "where: problem"."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class DecodeError(TaskqueueError, ValueError):
    """A message could not be decoded; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"undecodable message: {reason}")
        self.reason = reason


class MessageTooLarge(TaskqueueError, ValueError):
    """A message whose encoding is over the size limit; nothing was sent."""

    def __init__(self, message_id: str, size: int, limit: int) -> None:
        super().__init__(f"message {message_id}: {size} bytes exceeds the limit of {limit}")
        self.message_id = message_id
        self.size = size
        self.limit = limit


class BrokerError(TaskqueueError):
    """The broker failed to perform an operation."""


class BrokerUnavailable(BrokerError, ConnectionError):
    """The broker cannot be reached."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"broker {url} is unreachable: {cause}")
        self.url = url


class BrokerDataError(BrokerError):
    """The store holds something the broker cannot work with (a Redis key of the wrong type);
    the message names the key, what it holds and what was expected."""


class Fenced(BrokerError):
    """A fenced enqueue was refused: the lease ``lease`` is no longer held with ``token``.

    Raised before anything of the batch is pushed (the check is atomic with the push), so a
    former leader that was paused past its lease cannot publish. ``holder`` is the current
    owner (None if the lease is free or expired) and ``current`` its token.
    """

    def __init__(self, lease: str, token: int, holder: str | None, current: int | None) -> None:
        now = f"held by {holder} with token {current}" if holder else "not held by anyone"
        super().__init__(f"lease {lease!r}: fencing token {token} is stale (the lease is {now})")
        self.lease = lease
        self.token = token
        self.holder = holder
        self.current = current


class UnknownBrokerURL(TaskqueueError, ValueError):
    def __init__(self, url: str, hint: str | None = None) -> None:
        from taskqueue.redact import redact_url  # here: errors.py imports nothing at load

        super().__init__(
            f"unsupported broker URL {redact_url(url)!r}: "
            + (
                hint
                or "expected redis://, rediss://, unix://, redis+sentinel://HOST:PORT,.../SERVICE "
                "or sqlite:///PATH"
            )
        )
        self.url = redact_url(url)
