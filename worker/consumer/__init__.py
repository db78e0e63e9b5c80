"""The consumer: claims messages, runs them in a pool, and settles each delivery exactly once.

At-least-once delivery, in this process's terms:

- a message is acked (removed) only after its task finished, expired, or failed for good;
- every in-flight delivery has its lease renewed at ``lease / 3`` by a separate thread
  (:mod:`~worker.consumer.lease_keeper`), so a long task is never redelivered while this
  worker is alive, and a dead worker's messages come back within one lease
  (``recover_expired``, also run there);
- a delivery whose renewal is refused (the lease ran out, e.g. the process was stopped) is
  marked *lost*: its outcome is logged but not acked, the redelivered copy owns the message now;
- on shutdown, whatever has not finished is *released* back to ready, never dropped.

Batches (throughput: a no-op task used to cost four sequential broker round trips):

- ``claim_many`` takes the pool's free slots, and the broker records STARTED in the same
  atomic step. While tasks are short (under 10 ms) it also claims up to four times the
  concurrency *ahead* (:mod:`~worker.consumer.ahead`): those start the moment a slot frees, without
  waiting for a round trip, and read STARTED up to 200 ms before they run; one still waiting
  then goes back to the queue (QUEUED). A held message is in flight like a running one: its
  lease is renewed, a dead worker's comes back within one lease, a stop releases it, a revoke
  with terminate stops it before it runs. A claimed message that cannot run (undecodable,
  unknown task, expired, rate limited) is settled right away with its true state;
- every outcome the pool returned in one loop iteration is settled by one ``settle_many``
  call (action and status together, atomically per message; a claim that is no longer ours
  is neither settled nor given a status); while enough is held to refill every slot again,
  outcomes wait a few more iterations (at most 10 ms), so a short workload settles up to four
  times its concurrency per call;
- each iteration claims the next batch *before* settling the finished one, so the pool runs
  while the outcomes are recorded. Outcomes wait in a buffer until settled: a failed claim
  loses none.

The modules, one job each (claim -> run -> settle):

- :mod:`~worker.consumer.loop`: :class:`Consumer`, the claim loop, drain and shutdown;
- :mod:`~worker.consumer.start`: running a delivery (decode, deliveries, expiry, rate limit,
  limits, submit to the pool);
- :mod:`~worker.consumer.ahead`: what is claimed ahead while tasks are short, and its bounds;
- :mod:`~worker.consumer.outcomes`: the outcome table (outcome -> ack, retry, redeliver,
  dead letter, and the status recorded with it);
- :mod:`~worker.consumer.settle`: the broker call that applies the settlements, and the counts;
- :mod:`~worker.consumer.lease_keeper`: the thread that renews leases, heartbeats (with the
  worker's record, :mod:`~worker.consumer.presence`) and asks which running tasks were revoked
  with terminate;
- :mod:`~worker.consumer.in_flight`: the deliveries the pool is running, shared by both threads;
- :mod:`~worker.consumer.outages`: broker outages and bad data, one log line per episode.

Policies live beside the consumer: :mod:`worker.retries`, :mod:`worker.rate_limit`.
"""

from __future__ import annotations

from worker.consumer.loop import (
    DEFAULT_CLAIM_TIMEOUT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_LEASE,
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_SHUTDOWN_TIMEOUT,
    Consumer,
)

__all__ = [
    "DEFAULT_CLAIM_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_DELIVERIES",
    "DEFAULT_SHUTDOWN_TIMEOUT",
    "Consumer",
]
