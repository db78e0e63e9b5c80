"""Chord parts on Redis: one HASH per chord (``keys.chord``), written and read in one
MULTI/EXEC, so two members finishing at the same instant see the count in turn."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from taskqueue.chord_values import complete_parts, encode_part
from taskqueue.records import DEFAULT_RESULT_TTL
from taskqueue.redis.connection import RedisConnection


class RedisChords(RedisConnection):
    """:class:`~taskqueue.broker.ChordParts` on Redis."""

    def chord_part(
        self, chord_id: str, index: int, size: int, value: Any, ttl: timedelta = DEFAULT_RESULT_TTL
    ) -> list[Any] | None:
        data = encode_part(value)
        key = self.keys.chord(chord_id)
        with self._errors():
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(key, str(index), data)
            pipe.pexpire(key, max(1, int(ttl.total_seconds() * 1000)))
            pipe.hgetall(key)
            stored = pipe.execute()[-1]
        return complete_parts(chord_id, size, stored.items())
