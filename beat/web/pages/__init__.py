"""The dashboard's pages, in navigation order: one declaration a page (see
:class:`beat.web.pages.base.Page`; its name is its template and, unless it has a ``route``,
its path)."""

from __future__ import annotations

from beat.web.pages import schemas as s
from beat.web.pages.base import Page
from beat.web.params import Param

_LIMIT = 1000  # the most rows a page answers at once
_NAME = Param("name", where="path", max_length=200)


def _limit(default: int, maximum: int = _LIMIT) -> Param:
    return Param("limit", kind="integer", default=default, minimum=1, maximum=maximum)


PAGES: tuple[Page, ...] = (
    # Every entry with its schedule in words, zone, next fire (and its DST note), last fire
    # and its outcome, enabled or not; filtered and paged (10,000 entries stay fast).
    Page("entries", "Entries",
         lambda d, p, now: d.entries(p["q"] or "", p["offset"], p["limit"], now),
         "Every entry: schedule, zone, next fire with DST notes, last fire and outcome",
         (Param("q", description="only entries whose name, task or queue contain this"),
          Param("offset", kind="integer", default=0, minimum=0, maximum=10**9), _limit(100)),
         s.ENTRIES),
    # Every fire of every enabled entry in the next hours (24 by default), in time order.
    Page("timeline", "Next 24 h", lambda d, p, now: d.timeline(now, p["hours"], p["limit"]),
         "Every fire in the next hours, in time order (at most `limit`; `more` if cut)",
         (Param("hours", kind="integer", default=24, minimum=1, maximum=168),
          _limit(500, 5000)),
         s.TIMELINE),
    # Ready, delayed, in flight, dead, consumers (`beat queues`), and a depth chart over the
    # last hour from the samples this process takes (the API-only page after this one).
    Page("queues", "Queues", lambda d, p, now: d.queues(),
         "Every queue: ready, delayed, in flight, dead, live consumers, expired leases",
         schema=s.QUEUES),
    Page("queues/history", "Queue depth", lambda d, p, now: d.depth_history(),
         "Queue depths (totals over all queues) sampled by this process over the last hour",
         schema=s.QUEUE_DEPTH, nav=False, html=False),
    # The newest dead letters of one queue, or of every queue that has some.
    Page("dead", "Dead letters", lambda d, p, now: d.dead_letters(p["queue"], p["limit"]),
         "Dead letters: id, queue, reason, time, task and attempt",
         (Param("queue", max_length=200, description="one queue (default: every queue)"),
          _limit(100)),
         s.DEAD),
    # `beat workers`: live workers with the tasks they run now, then the ones missed
    # recently (stopped beating without a clean stop), marked.
    Page("workers", "Workers", lambda d, p, now: d.workers(),
         "Workers: host, pid, pool, queues, last seen, tasks running now; missed ones marked",
         schema=s.WORKERS),
    # Which beat holds the lease, its fencing token and when the lease ends.
    Page("leader", "Leader", lambda d, p, now: d.leader(now),
         "The beat holding the leader lease: holder, fencing token, lease end",
         schema=s.LEADER),
    # One task by id (`beat status`): state, attempts, result or error and its traceback,
    # progress, times, the task that sent it and the ones it sent (callbacks).
    Page("task", "Task", lambda d, p, now: d.task(p["task_id"]),
         "One task by id: state, attempts, result or error and traceback, parent and "
         "children (404: unknown)",
         (Param("task_id", where="path", max_length=300),), s.TASK,
         route="/tasks/{task_id}", nav=False),
    # One entry: definition, last fire and its outcome, next fires on a timeline with the
    # zone's DST changes marked, and its history (`beat history`) with a chart of run time
    # and outcome per fire (the data of the chart: the API-only page after this one).
    Page("entry", "Entry", lambda d, p, now: d.entry_detail(p["name"], now),
         "One entry: last fire and outcome, next fires with DST notes and changes",
         (_NAME,), s.ENTRY, route="/entries/{name}", nav=False),
    Page("entry_history", "Entry history",
         lambda d, p, now: {"entry": p["name"], "fires": d.history(p["name"], p["limit"])},
         "An entry's newest fires (beat history): outcome, task state, run time",
         (_NAME, _limit(50)), s.ENTRY_HISTORY,
         route="/entries/{name}/history", nav=False, html=False),
)  # fmt: skip
