"""Which entry fires next: a min-heap of distinct instants, each with a bucket of entries.

The beat loop asks two questions many times a second: "what is due now?" and "when is the next
fire?". Fires cluster on few instants (whole seconds and minutes: 100,000 entries `every 1m`
share one instant per minute), so the heap holds *distinct instants* and each instant a bucket
of entry names in push order. Popping a burst is then a list walk, not 100,000 heap pops of
cache-missing tuples (measured: ~14 µs per heappop at 1M items, against well under 1 µs per
entry here).

Moving or removing an entry never searches: each name's *slot* (an object with a ``bucket``
attribute) names the one bucket that holds it validly, a push appends the name to its bucket,
and a bucket keeps a count of its live names, so stale occurrences are skipped when their bucket
is popped (an entry moved away and back holds the same bucket twice: its *last* occurrence is
its push-order place), and a bucket with none left is dropped when it reaches the top.
:meth:`_compact` rebuilds everything when stale occurrences outnumber live ones, so memory stays
bounded under constant rescheduling.

The slots are the roster's per-entry records (:mod:`beat.records`), so the index keeps no dict
of its own: per entry it costs one list slot and one attribute (issue 17: a dict slot is ~41
bytes, a million entries' worth is 41 MB). An index made without records keeps its own slots.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

# Rebuild when the buckets hold more than this many items per live entry...
_MAX_STALE_RATIO = 2
# ...but never bother for small indexes.
_MIN_COMPACT = 1024


class Slot(Protocol):
    """Where the index notes an entry's bucket: None when the entry is not indexed."""

    bucket: Bucket | None


class _OwnSlot:
    """The slot of an index that has no records (tests, benchmarks of the index alone)."""

    __slots__ = ("bucket",)

    def __init__(self) -> None:
        self.bucket: Bucket | None = None


class Bucket:
    """The entries pushed for one instant, in push order; ``live`` of them still valid."""

    __slots__ = ("items", "live", "when")

    def __init__(self, when: datetime) -> None:
        self.items: list[str] = []
        self.live = 0
        self.when = when

    def live_names(self, slots: Mapping[str, Slot]) -> list[str]:
        """The names this bucket holds validly, each at its last occurrence, in push order."""
        out: list[str] = []
        seen: set[str] = set()
        for name in reversed(self.items):
            slot = slots.get(name)
            if slot is not None and slot.bucket is self and name not in seen:
                seen.add(name)
                out.append(name)
        out.reverse()
        return out


class DueIndex:
    """Each indexed entry's next fire; an entry is at most once in the index.

    ``slots``: the records of the entries that may be indexed (name -> :class:`Slot`), whose
    ``bucket`` this index sets; pushing a name with no record is a KeyError. Without them the
    index keeps a slot per indexed name itself.
    """

    __slots__ = ("_buckets", "_count", "_instants", "_items", "_own", "_slots")

    def __init__(self, slots: Mapping[str, Slot] | None = None) -> None:
        self._instants: list[datetime] = []  # heap; exactly the keys of _buckets
        self._buckets: dict[datetime, Bucket] = {}
        # Without records: the slots are the index's own (made on push, dropped on pop).
        own: dict[str, _OwnSlot] = {}
        self._own = own if slots is None else None
        self._slots: Mapping[str, Slot] = own if slots is None else slots
        self._count = 0  # the names indexed
        self._items = 0  # occurrences held by all buckets, live or stale

    def __len__(self) -> int:
        return self._count

    def __contains__(self, name: object) -> bool:
        slot = self._slots.get(name) if isinstance(name, str) else None
        return slot is not None and slot.bucket is not None

    def push(self, name: str, when: datetime) -> None:
        """Index ``name`` to fire at ``when`` (aware), replacing any earlier position."""
        if when.tzinfo is None:
            raise ValueError(f"due index: naive datetime {when.isoformat()} for entry {name!r}")
        slot = self._slots.get(name)
        if slot is None:
            if self._own is None:
                raise KeyError(f"due index: no record for entry {name!r}")
            slot = self._own[name] = _OwnSlot()
        old = slot.bucket
        if old is not None:
            old.live -= 1
        else:
            self._count += 1
        bucket = self._buckets.get(when)
        if bucket is None:
            bucket = self._buckets[when] = Bucket(when)
            heapq.heappush(self._instants, when)
        slot.bucket = bucket
        bucket.items.append(name)
        bucket.live += 1
        self._items += 1
        if self._items > _MIN_COMPACT and self._items > _MAX_STALE_RATIO * self._count:
            self._compact()

    def remove(self, name: str) -> None:
        """Take ``name`` out of the index (no error if it is not there)."""
        slot = self._slots.get(name) if self._own is None else self._own.pop(name, None)
        if slot is not None and slot.bucket is not None:
            slot.bucket.live -= 1
            slot.bucket = None
            self._count -= 1

    def clear(self) -> None:
        """Take every entry out of the index."""
        if self._own is not None:
            self._own.clear()
        else:
            for slot in self._slots.values():
                slot.bucket = None
        self._instants.clear()
        self._buckets.clear()
        self._count = self._items = 0

    def pop_due(self, now: datetime) -> list[tuple[str, datetime]]:
        """Remove and return every entry due at or before ``now``, earliest first (ties in push
        order)."""
        instants = self._instants
        slots = self._slots
        out: list[tuple[str, datetime]] = []
        while instants and instants[0] <= now:
            when = heapq.heappop(instants)
            bucket = self._buckets.pop(when)
            self._items -= len(bucket.items)
            if not bucket.live:
                continue
            # The common case first: no stale occurrence, so every name is live.
            full = bucket.live == len(bucket.items)
            names = bucket.items if full else bucket.live_names(slots)
            own = self._own
            if own is not None:
                for name in names:
                    del own[name]
            else:
                for name in names:
                    slots[name].bucket = None
            self._count -= len(names)
            out.extend([(name, when) for name in names])
        return out

    def peek(self) -> datetime | None:
        """The earliest indexed instant, None if the index is empty."""
        instants = self._instants
        while instants:
            when = instants[0]
            if self._buckets[when].live:
                return when
            heapq.heappop(instants)
            self._items -= len(self._buckets.pop(when).items)
        return None

    def upcoming(self, limit: int) -> list[tuple[datetime, int]]:
        """The first ``limit`` indexed instants, earliest first, each with how many entries
        are due then (beat pushes a large burst earlier than its lookahead: beat.early_push).
        Walks only the top of the heap (a node's children are at 2i+1 and 2i+2), so it costs
        O(limit log limit) however many instants are indexed."""
        heap, buckets = self._instants, self._buckets
        out: list[tuple[datetime, int]] = []
        frontier = [(heap[0], 0)] if heap else []
        while frontier and len(out) < limit:
            when, i = heapq.heappop(frontier)
            live = buckets[when].live
            if live:
                out.append((when, live))
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(heap):
                    heapq.heappush(frontier, (heap[child], child))
        return out

    def _compact(self) -> None:
        """Rebuild the buckets from the live entries only (keeping push order in each)."""
        for bucket in list(self._buckets.values()):
            if not bucket.live:
                del self._buckets[bucket.when]
            elif bucket.live != len(bucket.items):
                bucket.items = bucket.live_names(self._slots)
        self._instants = list(self._buckets)
        heapq.heapify(self._instants)
        self._items = self._count
