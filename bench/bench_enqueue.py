"""Beat burst enqueue: N fires due at one instant, rendered and enqueued once.

N distinct entries (4 queues, priorities 0-9) each fire once at the same instant. Per broker,
measured: rendering the N payloads with each entry's MessageTemplate (``render_json``, the
instants formatted once per burst, as a burst allows; ``--render plain`` uses ``render``),
then ``enqueue_encoded`` of all N, then offering the same N again (all refused as duplicates).

Wall seconds on a loaded machine overstate the cost, so CPU seconds are printed too: this
process's (render + enqueue) and the Redis server's (``INFO cpu`` delta: the whole server,
so other clients' work counts too). On an idle 2-core machine the burst takes about
max(client CPU, server CPU) plus the part that does not overlap (rendering). The per-entry
templates are built first and frozen out of the cyclic GC (``gc.freeze()``, as a long-running
beat should after loading its entries; ``--no-gc-freeze`` shows the cost of not doing so).

    python bench/bench_enqueue.py [--n 100000] [--chunks 1,100,1000,5000]
        [--render json|plain] [--no-sqlite] [--redis-url URL --yes-flush]

Redis is a private ``redis-server`` started for the run (bench/benchredis.py); a database
given with ``--redis-url`` is FLUSHED before each run, so it needs ``--yes-flush``.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from taskqueue.broker import Broker
from taskqueue.message import Headers, Message, RetryPolicy, fire_id
from taskqueue.message_template import MessageTemplate, json_instant
from taskqueue.records import EncodedMessage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchredis import RedisTarget, add_redis_args, bench_redis, load_line


@dataclass(frozen=True, slots=True)
class Prepared:
    """What beat keeps per entry between fires: the template and the routing fields."""

    entry: str
    template: MessageTemplate
    queue: str
    priority: int
    task: str


@dataclass(frozen=True, slots=True)
class Result:
    render_s: float
    enqueue_s: float
    client_cpu_s: float
    server_cpu_s: float | None
    dup_s: float
    refused: int


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
            Prepared(f"entry-{k}", MessageTemplate(base), base.queue, k % 10, base.task)
        )
    return prepared


def render_burst(
    prepared: list[Prepared], scheduled_for: datetime, plain: bool = False
) -> list[EncodedMessage]:
    """One fire of every entry, all due at ``scheduled_for``, as beat renders a burst."""
    now = datetime.now(UTC)
    expires = scheduled_for + timedelta(hours=1)
    # The fire id is fire_id(entry, scheduled_for); its instant part is the same for all.
    suffix = fire_id("", scheduled_for)
    now_j, scheduled_j, expires_j = (json_instant(t) for t in (now, scheduled_for, expires))

    def payload(p: Prepared, message_id: str) -> bytes:
        if plain:
            return p.template.render(
                message_id, enqueued_at=now, scheduled_for=scheduled_for, expires=expires
            )
        return p.template.render_json(
            message_id, enqueued_at=now_j, scheduled_for=scheduled_j, expires=expires_j
        )

    return [
        EncodedMessage(
            p.entry + suffix, p.queue, p.priority, None, payload(p, p.entry + suffix), p.task
        )
        for p in prepared
    ]


def measure(
    broker: Broker, prepared: list[Prepared], plain: bool, server_cpu: Callable[[], float] | None
) -> Result:
    scheduled_for = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=time.time() // 60)
    cpu0 = time.process_time()
    server0 = server_cpu() if server_cpu else 0.0
    start = time.perf_counter()
    items = render_burst(prepared, scheduled_for, plain)
    rendered = time.perf_counter()
    pushed = broker.enqueue_encoded(items)
    enqueued = time.perf_counter()
    cpu1 = time.process_time()
    server1 = server_cpu() if server_cpu else 0.0
    again = broker.enqueue_encoded(items)
    refused_at = time.perf_counter()
    assert all(pushed), "fresh fires were refused"
    return Result(
        render_s=rendered - start,
        enqueue_s=enqueued - rendered,
        client_cpu_s=cpu1 - cpu0,
        server_cpu_s=(server1 - server0) if server_cpu else None,
        dup_s=refused_at - enqueued,
        refused=again.count(False),
    )


HEADER = (
    f"{'broker':<18} {'messages':>8} {'render_s':>8} {'enqueue_s':>9} {'total_s':>8} "
    f"{'msgs/s':>9} {'client_cpu_s':>12} {'server_cpu_s':>12} {'dup_s':>6} {'refused':>8}"
)


def row(name: str, n: int, r: Result) -> str:
    total = r.render_s + r.enqueue_s
    server = "-" if r.server_cpu_s is None else f"{r.server_cpu_s:.3f}"
    return (
        f"{name:<18} {n:>8} {r.render_s:>8.3f} {r.enqueue_s:>9.3f} {total:>8.3f} "
        f"{n / total:>9,.0f} {r.client_cpu_s:>12.3f} {server:>12} {r.dup_s:>6.3f} {r.refused:>8}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    add_redis_args(parser)
    parser.add_argument("--chunks", default="1,100,1000,5000")
    parser.add_argument("--render", choices=["json", "plain"], default="json")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="leave the templates to the cyclic GC (a long-running beat should gc.freeze() "
        "after loading its entries: otherwise every burst's allocations rescan them all)",
    )
    args = parser.parse_args(argv)
    print(load_line())
    with bench_redis(args) as target:
        run(args, target)


def run(args: argparse.Namespace, target: RedisTarget) -> None:
    plain = args.render == "plain"

    import redis

    from taskqueue.redis import RedisBroker
    from taskqueue.sqlite import SQLiteBroker

    admin: Any = redis.Redis.from_url(target.url())

    def server_cpu() -> float:
        info = admin.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    print(HEADER)
    prepared = prepare(args.n)
    if not args.no_gc_freeze:
        gc.collect()
        gc.freeze()
    for chunk in (int(c) for c in args.chunks.split(",")):
        target.flush()
        broker = RedisBroker(target.url(), enqueue_chunk=chunk)
        broker.ping()
        print(row(f"redis chunk={chunk}", args.n, measure(broker, prepared, plain, server_cpu)))
        broker.close()
    target.flush()
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = SQLiteBroker(f"sqlite:///{Path(tmp) / 'queue.db'}")
            print(row("sqlite", args.n, measure(sqlite, prepared, plain, None)))
            sqlite.close()


if __name__ == "__main__":
    main()
