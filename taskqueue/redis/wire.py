"""Conversions between this host's values and what the Redis scripts take and return."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from hiredis import pack_command

from taskqueue.message import require_aware


def now_ms() -> int:
    """This host's clock, in ms: only ever to turn an instant into a delay for a script."""
    return int(time.time() * 1000)


def id_bytes(value: str) -> bytes:
    """A message id as Redis holds it: ids read back from Redis are decoded with
    surrogateescape (garbage in the store need not be UTF-8), so they round-trip exactly."""
    return value.encode("utf-8", "surrogateescape")


def id_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def ms(value: datetime) -> int:
    return int(require_aware(value, "instant").timestamp() * 1000)


def keep_ms(keep: timedelta) -> int:
    """How long a final status is kept, in ms for PEXPIRE (at least 1)."""
    return max(1, int(keep.total_seconds() * 1000))


def ttl_ms(ttl: timedelta) -> int:
    value = int(ttl.total_seconds() * 1000)
    if value <= 0:
        raise ValueError(f"lease ttl {ttl}: must be positive")
    return value


def instant(value_ms: int) -> datetime:
    return datetime.fromtimestamp(value_ms / 1000, UTC)


def delay_ms(eta: datetime, now: int) -> int:
    """How long from ``now`` (this host's clock, ms) ``eta`` is, in ms (0 if it has passed):
    what a script adds to the server's clock."""
    return max(0, ms(eta) - now)


def pack(command: tuple[Any, ...]) -> list[bytes]:
    """The wire bytes of ``command`` (as send_packed_command takes them): hiredis's packer
    called directly (redis-py's wrapper inspects every argument in Python first: a tenth of a
    burst's client time); a :class:`Packed` command's own bytes."""
    if type(command) is Packed:
        return [command.packed]
    packed: bytes = pack_command(command)
    return [packed]


def pack_args(args: tuple[Any, ...]) -> bytes:
    """The wire bytes of ``args`` as part of a longer command (no array header)."""
    packed: bytes = pack_command(args)
    return packed[packed.index(b"\n") + 1 :]


class Packed(tuple[Any, ...]):
    """A command (its arguments, for a resend) with its wire bytes already built: the worker's
    scripts pass a queue's 18 keys on every call, packed once (see RedisConsumer)."""

    packed: bytes

    @classmethod
    def of(cls, parts: tuple[bytes, ...], args: tuple[Any, ...]) -> Packed:
        """The command ``args`` whose wire bytes, without the array header, are ``parts``."""
        command = cls(args)
        command.packed = b"*%d\r\n%b" % (len(args), b"".join(parts))
        return command
