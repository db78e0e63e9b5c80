"""Errors raised by the task queue.

    TaskqueueError
     ├── DecodeError          a message that is not valid (bad JSON, wrong version, bad field)
     ├── BrokerError          the broker failed to do what was asked
     │    └── BrokerUnavailable   the broker cannot be reached (connection refused, timeout)
     └── UnknownBrokerURL     a broker URL whose scheme we do not support
"""

from __future__ import annotations


class TaskqueueError(Exception):
    """Root of every error raised by :mod:`taskqueue`."""


class DecodeError(TaskqueueError, ValueError):
    """A message could not be decoded; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"undecodable message: {reason}")
        self.reason = reason


class BrokerError(TaskqueueError):
    """The broker failed to perform an operation."""


class BrokerUnavailable(BrokerError, ConnectionError):
    """The broker cannot be reached."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"broker {url} is unreachable: {cause}")
        self.url = url


class UnknownBrokerURL(TaskqueueError, ValueError):
    def __init__(self, url: str) -> None:
        super().__init__(
            f"unsupported broker URL {url!r}: expected redis://, rediss:// or sqlite:///PATH"
        )
        self.url = url
