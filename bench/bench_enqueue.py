"""Beat burst enqueue: N fire messages rendered with MessageTemplate and enqueued once.

Measures, for the Redis broker (several chunk sizes: 1 = one pipelined EVALSHA per message)
and the SQLite broker, the seconds to render and enqueue N fresh messages, then the seconds
to offer the same N again (all refused as duplicates). Prints a table.

    python bench/bench_enqueue.py [--n 100000] [--redis redis://127.0.0.1:6379/4]
        [--chunks 1,100,1000,5000] [--no-sqlite]

The Redis database given is FLUSHED before each run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from taskqueue.broker import Broker, EncodedMessage
from taskqueue.message import Headers, Message, MessageTemplate, RetryPolicy, fire_id


@dataclass(frozen=True, slots=True)
class Prepared:
    """What beat keeps per entry between fires: the template and the routing fields."""

    entry: str
    template: MessageTemplate
    queue: str
    priority: int
    task: str


def prepare(n: int) -> list[Prepared]:
    """``n`` distinct entries over 4 queues and all priorities (done once, at config load)."""
    now = datetime.now(UTC)
    prepared = []
    for k in range(n):
        base = Message(
            id="template",
            task="bench.noop",
            queue=f"q{k % 4}",
            args=(k,),
            kwargs={"full": True},
            priority=k % 10,
            retry=RetryPolicy(max_retries=3),
            headers=Headers(enqueued_at=now, entry=f"entry-{k}"),
        )
        prepared.append(
            Prepared(base.headers.entry or "", MessageTemplate(base), base.queue, k % 10, base.task)
        )
    return prepared


def render_burst(prepared: list[Prepared], scheduled_for: datetime) -> list[EncodedMessage]:
    """One fire of every entry, all due at ``scheduled_for``, as beat renders a burst."""
    now = datetime.now(UTC)
    expires = scheduled_for + timedelta(hours=1)
    items = []
    for p in prepared:
        message_id = fire_id(p.entry, scheduled_for)
        payload = p.template.render(
            message_id, enqueued_at=now, scheduled_for=scheduled_for, expires=expires
        )
        items.append(EncodedMessage(message_id, p.queue, p.priority, None, payload, p.task))
    return items


def measure(broker: Broker, prepared: list[Prepared]) -> tuple[float, float, float, int]:
    """(render s, enqueue s, duplicate re-offer s, duplicates refused)."""
    scheduled_for = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=time.time() // 60)
    start = time.perf_counter()
    items = render_burst(prepared, scheduled_for)
    rendered = time.perf_counter()
    pushed = broker.enqueue_encoded(items)
    enqueued = time.perf_counter()
    again = broker.enqueue_encoded(items)
    refused_at = time.perf_counter()
    assert all(pushed), "fresh fires were refused"
    return rendered - start, enqueued - rendered, refused_at - enqueued, again.count(False)


def row(name: str, n: int, run: Callable[[], tuple[float, float, float, int]]) -> str:
    render_s, enqueue_s, dup_s, refused = run()
    total = render_s + enqueue_s
    return (
        f"{name:<24} {n:>8} {render_s:>8.3f} {enqueue_s:>9.3f} {total:>8.3f} "
        f"{n / total:>10,.0f} {dup_s:>8.3f} {refused:>8}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--chunks", default="1,100,1000,5000")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args(argv)

    import redis

    from taskqueue.redis import RedisBroker
    from taskqueue.sqlite import SQLiteBroker

    print(
        f"{'broker':<24} {'messages':>8} {'render_s':>8} {'enqueue_s':>9} {'total_s':>8} "
        f"{'msgs/s':>10} {'dup_s':>8} {'refused':>8}"
    )
    prepared = prepare(args.n)
    for chunk in (int(c) for c in args.chunks.split(",")):
        redis.Redis.from_url(args.redis).flushdb()
        broker = RedisBroker(args.redis, enqueue_chunk=chunk)
        print(row(f"redis chunk={chunk}", args.n, lambda b=broker: measure(b, prepared)))
        broker.close()
    redis.Redis.from_url(args.redis).flushdb()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            broker_s = SQLiteBroker(f"sqlite:///{Path(tmp) / 'queue.db'}")
            print(row("sqlite", args.n, lambda: measure(broker_s, prepared)))
            broker_s.close()


if __name__ == "__main__":
    main()
