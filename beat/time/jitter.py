"""``jitter:``: a fire's send time moved later by a deterministic amount in ``[0, jitter)``.

The amount is derived from the fire id alone (blake2b, not Python's per-process randomised
``hash``), so every beat and every run moves a fire by the same amount: the fire id, the
duplicate check and ``scheduled_for`` stay the nominal instant's, only the message's eta moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_SCALE = 1 << 64


def jitter_delay(fire_id: str, jitter: timedelta) -> timedelta:
    """The delay of the fire ``fire_id`` for an entry with ``jitter``: in ``[0, jitter)``."""
    if jitter <= timedelta(0):
        return timedelta(0)
    # Imported here: hashlib loads OpenSSL (~3 ms), wanted only by an entry with jitter.
    import hashlib

    digest = hashlib.blake2b(fire_id.encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big")
    micros = (jitter // timedelta(microseconds=1)) * fraction // _SCALE
    return timedelta(microseconds=micros)


def send_at(scheduled_for: datetime, fire_id: str, jitter: timedelta) -> datetime:
    """When the fire ``fire_id`` scheduled for ``scheduled_for`` is released to workers."""
    return scheduled_for + jitter_delay(fire_id, jitter)
