"""The outcome table: how each way a delivery can end is settled, in one place.

======================  =================================================================
revoked, terminated     status REVOKED; ack (stopped on purpose: never retried)
SUCCESS                 status SUCCESS with the result; ack
failure, retryable      retry with attempt + 1 and a full-jitter backoff; status RETRY
failure, out of retries status FAILURE and dead-lettered "out of retries: <error>"
failure, not retryable  status FAILURE; ack (no retry budget, or the error does not match)
pool process died       redelivered like a message whose worker died: not a retry (the
                        attempt stays), status QUEUED with the WorkerLost error; once the
                        attempt was delivered ``max_deliveries`` times, status FAILURE and
                        dead-lettered with the reason (a task that always kills its process
                        cannot loop)
expired before it ran   status EXPIRED; ack
task raised ``Reject``  status DEAD; dead-lettered "rejected: <reason>" (never retried)
``self.retry(...)``     the failure rule above, always retryable, at the call's countdown/eta
rate limited            the same message back, delayed until a token is due; status QUEUED
cannot run              status DEAD; dead-lettered with the reason (undecodable, unknown
                        task, malformed queue entry, delivered too often)
======================  =================================================================

A failure is retryable when retries remain (:func:`worker.retries.effective_policy`) and the
exception matches the task's ``autoretry_for`` (a hard time limit counts as
``worker.errors.TimeLimitExceeded``, an escaped soft limit as ``SoftTimeLimitExceeded``).

Deliveries are counted apart from retries: the broker counts each claim of a message's current
attempt (``Delivery.deliveries``), so deaths of the pool process and of the whole worker both
count.

Every function here builds a :class:`Pending` settlement (and logs the outcome); none calls
the broker: :mod:`worker.consumer.settle` applies them in one batch.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from taskqueue.broker import (
    ACK,
    REDELIVER,
    DeadLetterAction,
    Delivery,
    RetryAction,
    Settlement,
    TaskState,
    TaskStatus,
)
from taskqueue.callbacks_wire import callback_id
from taskqueue.message import Message
from taskqueue.records import FINAL_STATES, REVOKED_ERROR
from worker.consumer.in_flight import InFlight
from worker.consumer.log_fields import task_fields
from worker.errors import RetryRequest
from worker.pool import Outcome, OutcomeKind
from worker.retries import backoff_delay, effective_policy, matches_autoretry

if TYPE_CHECKING:
    from daemonkit.metrics import WorkerMetrics

logger = logging.getLogger(__name__)

_TIME_LIMIT_EXC = "worker.errors.TimeLimitExceeded"
_SOFT_LIMIT_EXC = "worker.errors.SoftTimeLimitExceeded"


# Not frozen: one per task, and a frozen __init__ costs several times a plain one.
@dataclass(slots=True)
class Pending:
    """A settlement on its way to the broker, and the stats to count once it is applied."""

    settlement: Settlement
    counters: tuple[str, ...]


# Not frozen: one per task, and a frozen __init__ costs several times a plain one.
@dataclass(slots=True)
class Finished:
    """A job the pool finished, with what settling it needs to know."""

    entry: InFlight
    outcome: Outcome
    finished_at: datetime

    @property
    def runtime_s(self) -> float:
        return (self.finished_at - self.entry.started_at).total_seconds()

    def status(
        self, state: TaskState, *, result: Any = None, error: str | None = None
    ) -> TaskStatus:
        """The final status of this run (its attempt counted), with the calls its code sent
        and the callbacks it sends as children and, for a FAILURE from an exception, the
        remote traceback."""
        message, outcome = self.entry.message, self.outcome
        failed = state is TaskState.FAILURE and outcome.kind is OutcomeKind.FAILURE
        traceback = outcome.result if failed and isinstance(outcome.result, str) else None
        return status_of(
            message,
            state,
            message.attempt + 1,
            result=result,
            error=error,
            started_at=self.entry.started_at,
            finished_at=self.finished_at,
            children=outcome.children + children_of(message, state),
            more_children=outcome.more_children,
            traceback=traceback,
            # Set here rather than copied in by the settler (a dataclass replace per task).
            deliveries=self.entry.delivery.deliveries,
        )


def status_of(
    message: Message,
    state: TaskState,
    attempts: int,
    *,
    result: Any = None,
    error: str | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    children: tuple[str, ...] = (),
    more_children: int = 0,
    traceback: str | None = None,
    deliveries: int = 0,
) -> TaskStatus:
    return TaskStatus(
        id=message.id,
        task=message.task,
        state=state,
        attempts=attempts,
        result=result,
        error=error,
        started_at=started_at,
        finished_at=finished_at,
        parent_id=message.headers.parent_id,
        children=children,
        more_children=more_children,
        traceback=traceback,
        keep=message.result_expires,
        deliveries=deliveries,
    )


def children_of(message: Message, state: TaskState) -> tuple[str, ...]:
    """The ids of the callbacks a task ending in ``state`` sends (worker.consumer.callbacks):
    its links on SUCCESS, its link_errors on a final failure. A chord body is not counted
    (only the member that completes the chord sends it, naming that member its parent)."""
    c = message.callbacks
    if state is TaskState.SUCCESS:
        return tuple(callback_id(message.id, "link", i, r) for i, r in enumerate(c.link))
    if state in FINAL_STATES:
        kind = "link_error"
        return tuple(callback_id(message.id, kind, i, r) for i, r in enumerate(c.link_error))
    return ()


def settle_finished(
    done: Finished,
    *,
    max_deliveries: int,
    rng: random.Random,
    metrics: WorkerMetrics | None,
) -> Pending | None:
    """How to settle a finished job (None if its lease was lost: not ours to settle)."""
    message, delivery, outcome = done.entry.message, done.entry.delivery, done.outcome
    if done.entry.lost:
        logger.warning(
            "task %s[%s]: finished (%s) after its lease was lost; not acked",
            message.task,
            message.id,
            outcome.kind.name,
            extra=task_fields(message, delivery.queue, "LEASE_LOST", done.runtime_s),
        )
        return None
    if outcome.kind is OutcomeKind.SUCCESS:
        return _succeeded(done)
    if outcome.kind is OutcomeKind.REJECTED:
        return _rejected(done)
    if outcome.kind is OutcomeKind.RETRY:
        return _retry_requested(done, rng)
    if outcome.kind is OutcomeKind.REVOKED:
        return _revoked(done)
    error, exc_type = describe_failure(outcome)
    if outcome.kind is OutcomeKind.LOST:
        return _process_died(done, error, max_deliveries)
    if metrics is not None and outcome.kind is OutcomeKind.TIME_LIMIT:
        metrics.time_limit_kill(message.task, "hard")
    elif metrics is not None and outcome.kind is OutcomeKind.SOFT_TIME_LIMIT:
        metrics.time_limit_kill(message.task, "soft")
    return _failed(done, error, exc_type, rng)


def _succeeded(done: Finished) -> Pending:
    message, queue = done.entry.message, done.entry.delivery.queue
    if logger.isEnabledFor(logging.INFO):  # the hot path: no fields built for a dropped line
        logger.info(
            "task %s[%s] succeeded in %.3fs",
            message.task,
            message.id,
            done.runtime_s,
            extra=task_fields(message, queue, TaskState.SUCCESS, done.runtime_s),
        )
    status = done.status(TaskState.SUCCESS, result=done.outcome.result)
    return Pending(Settlement(done.entry.delivery, ACK, status), ("succeeded",))


def _revoked(done: Finished) -> Pending:
    # Revoked with terminate: stopped on purpose, so neither retried nor dead-lettered.
    message = done.entry.message
    logger.warning(
        "task %s[%s] revoked and terminated after %.3fs",
        message.task,
        message.id,
        done.runtime_s,
        extra=task_fields(message, done.entry.delivery.queue, TaskState.REVOKED, done.runtime_s),
    )
    status = done.status(TaskState.REVOKED, error=done.outcome.error or REVOKED_ERROR)
    return Pending(Settlement(done.entry.delivery, ACK, status), ("revoked",))


def _rejected(done: Finished) -> Pending:
    # The task refused the message itself (e.g. a command not allowed here): no retry can
    # change that, so it goes to the dead letters with the task's reason.
    message = done.entry.message
    reason = f"rejected: {done.outcome.error or 'rejected by the task'}"
    logger.error("task %s[%s] %s", message.task, message.id, reason)
    status = done.status(TaskState.DEAD, error=reason)
    action = DeadLetterAction(reason)
    return Pending(Settlement(done.entry.delivery, action, status), ("dead_lettered",))


def _failed(done: Finished, error: str, exc_type: str | None, rng: random.Random) -> Pending:
    message, task = done.entry.message, done.entry.task
    policy = effective_policy(message, task)
    eligible = matches_autoretry(exc_type, getattr(task, "autoretry_for", ()) or ())

    def delay() -> timedelta:
        return backoff_delay(message.attempt, policy.backoff, policy.backoff_max, rng)

    return _retry_or_fail(done, error, eligible, policy.max_retries, delay)


def _retry_requested(done: Finished, rng: random.Random) -> Pending:
    """``raise self.retry(...)``: the autoretry rule, with the call's ``countdown``/``eta``
    (else the task's backoff) and ``max_retries`` (else the message's or the task's)."""
    message, request = done.entry.message, done.outcome.result
    assert isinstance(request, RetryRequest)
    policy = effective_policy(message, done.entry.task)
    limit = policy.max_retries if request.max_retries is None else request.max_retries

    def delay() -> timedelta:
        if request.eta is not None:
            return max(timedelta(0), request.eta - done.finished_at)
        if request.countdown_s is not None:
            return timedelta(seconds=request.countdown_s)
        return backoff_delay(message.attempt, policy.backoff, policy.backoff_max, rng)

    return _retry_or_fail(done, request.error, True, limit, delay)


def _retry_or_fail(
    done: Finished,
    error: str,
    eligible: bool,
    max_retries: int,
    delay_of: Callable[[], timedelta],
) -> Pending:
    """THE RETRY RULE: retried while attempts remain, else FAILURE (dead-lettered when it
    was retryable: it ran out of retries)."""
    message, delivery = done.entry.message, done.entry.delivery
    if eligible and message.attempt < max_retries:
        delay = delay_of()
        logger.warning(
            "task %s[%s] failed (%s) in %.3fs; retry %d/%d in %.2fs",
            message.task,
            message.id,
            error,
            done.runtime_s,
            message.attempt + 1,
            max_retries,
            delay.total_seconds(),
            extra=task_fields(message, delivery.queue, TaskState.RETRY, done.runtime_s),
        )
        status = done.status(TaskState.RETRY, error=error)
        action = RetryAction(message.next_attempt(), done.finished_at + delay)
        return Pending(Settlement(delivery, action, status), ("retried",))
    logger.error(
        "task %s[%s] failed in %.3fs: %s",
        message.task,
        message.id,
        done.runtime_s,
        error,
        extra=task_fields(message, delivery.queue, TaskState.FAILURE, done.runtime_s),
    )
    status = done.status(TaskState.FAILURE, error=error)
    if eligible and max_retries > 0:
        dead = DeadLetterAction(f"out of retries: {error}")
        return Pending(Settlement(delivery, dead, status), ("failed", "dead_lettered"))
    return Pending(Settlement(delivery, ACK, status), ("failed",))


def _process_died(done: Finished, error: str, max_deliveries: int) -> Pending:
    """The pool process died under the task: redeliver it like a message whose worker died
    (no retry spent), or dead-letter it once its attempt was delivered ``max_deliveries``
    times."""
    message, delivery = done.entry.message, done.entry.delivery
    n, limit = delivery.deliveries, max_deliveries
    if n >= limit:
        reason = f"{error}; delivered {n} times (worker.max_deliveries is {limit})"
        logger.error("task %s[%s] dead-lettered: %s", message.task, message.id, reason)
        status = done.status(TaskState.FAILURE, error=reason)
        action = DeadLetterAction(reason)
        return Pending(Settlement(delivery, action, status), ("failed", "dead_lettered"))
    logger.warning(
        "task %s[%s]: %s after %.3fs; redelivered (delivery %d of at most %d)",
        message.task,
        message.id,
        error,
        done.runtime_s,
        n,
        limit,
    )
    status = status_of(
        message, TaskState.QUEUED, message.attempt, error=f"{error} (delivery {n} of {limit})"
    )
    return Pending(Settlement(delivery, REDELIVER, status), ("redelivered",))


def expired(delivery: Delivery, message: Message, now: datetime) -> Pending:
    """The message expired before it ran: not run, acked."""
    logger.info(
        "task %s[%s]: expired at %s, not run",
        message.task,
        message.id,
        message.expires,
        extra=task_fields(message, delivery.queue, TaskState.EXPIRED),
    )
    status = status_of(message, TaskState.EXPIRED, message.attempt, finished_at=now)
    return Pending(Settlement(delivery, ACK, status), ("expired",))


def rate_limited(delivery: Delivery, message: Message, eta: datetime) -> Pending:
    """No token for the task: not an attempt. The same message goes back, delayed until
    ``eta``, and its state (STARTED since the claim) back to QUEUED."""
    status = status_of(message, TaskState.QUEUED, message.attempt)
    action = RetryAction(message, eta)
    return Pending(Settlement(delivery, action, status), ("rate_limited",))


def dead_letter(
    delivery: Delivery,
    reason: str,
    message: Message | None,
    finished_at: datetime,
    named: tuple[str, int] | None = None,
) -> Pending:
    """A delivery that cannot run. ``message`` is None when the payload did not decode;
    ``named`` is then the (task, attempt) it names, if any."""
    logger.error(
        "message %s on %s dead-lettered: %s",
        delivery.message_id,
        delivery.queue,
        reason,
        extra={
            "task": message.task if message is not None else (named or (None,))[0],
            "task_id": delivery.message_id,
            "state": TaskState.DEAD.value,
            "queue": delivery.queue,
        },
    )
    status: TaskStatus | None = None
    if message is not None:
        status = status_of(
            message, TaskState.DEAD, message.attempt, error=reason, finished_at=finished_at
        )
    elif named is not None:
        # The broker recorded STARTED since the payload names its task: replace it.
        status = TaskStatus(
            id=delivery.message_id,
            task=named[0],
            state=TaskState.DEAD,
            attempts=named[1],
            error=reason,
            finished_at=finished_at,
        )
    return Pending(Settlement(delivery, DeadLetterAction(reason), status), ("dead_lettered",))


def describe_failure(outcome: Outcome) -> tuple[str, str | None]:
    """(error text, exception name) for a failed outcome, naming limit kills explicitly."""
    if outcome.kind is OutcomeKind.TIME_LIMIT:
        return f"TimeLimitExceeded: {outcome.error or 'hard time limit'}", _TIME_LIMIT_EXC
    if outcome.kind is OutcomeKind.SOFT_TIME_LIMIT:
        return f"SoftTimeLimitExceeded: {outcome.error or 'soft time limit'}", _SOFT_LIMIT_EXC
    if outcome.kind is OutcomeKind.LOST:
        return f"WorkerLost: {outcome.error or 'the pool process died'}", outcome.exc_type
    name = outcome.exc_type or "Exception"
    error = outcome.error or name
    short = name.rpartition(".")[2]
    return (error if error.startswith(short) else f"{short}: {error}"), outcome.exc_type
