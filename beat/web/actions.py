"""What the dashboard can change: each action is ``POST /api<path>`` (JSON) and, for the
pages, ``GET /actions<path>`` (a confirmation page) then ``POST /actions<path>``.

Adding an action is one :class:`Action` in :data:`ACTIONS` (with its Dashboard method);
buttons for it go in the template of the page it belongs to. Every action is logged with who
did it (:data:`beat.web.dashboard.actions_log`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from beat.web.dashboard import Dashboard
from beat.web.params import Param

# (dashboard, parsed parameters, who) -> what was done (the API's answer)
Perform = Callable[[Dashboard, dict[str, Any], str], dict[str, Any]]


def _said(result: dict[str, Any]) -> str:
    return str(result["done"])


def _entry_page(p: dict[str, Any]) -> str:
    return f"/entries/{quote(p['name'], safe='')}"


def _task_page(p: dict[str, Any]) -> str:
    return f"/tasks/{quote(p['task_id'], safe='')}"


def _dead_page(p: dict[str, Any]) -> str:
    return "/dead" + (f"?queue={quote(p['queue'], safe='')}" if p.get("queue") else "")


@dataclass(frozen=True)
class Action:
    """``name`` is the last part of its path: ``/entries/{name}/<name>`` unless ``route``
    says otherwise."""

    name: str
    label: str
    # What the confirmation page asks (it may count what the action would touch).
    question: Callable[[Dashboard, dict[str, Any]], str]
    perform: Perform
    summary: str
    route: str = ""
    params: tuple[Param, ...] = (Param("name", where="path", max_length=200),)
    back: Callable[[dict[str, Any]], str] = _entry_page  # the page to return to afterwards
    done: Callable[[dict[str, Any]], str] = _said  # what the page says was done
    # Parameters the confirmation page asks for (text fields posted with the form).
    fields: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return self.route or f"/entries/{{name}}/{self.name}"


def _revoke_question(d: Dashboard, p: dict[str, Any]) -> str:
    if p["terminate"]:
        return f"Revoke task {p['task_id']} and stop it if it is running (its process is killed)?"
    return f"Revoke task {p['task_id']}? If queued or delayed it is removed; it never runs later."


def _dead_letters(d: Dashboard, p: dict[str, Any]) -> str:
    """What the dead-letter actions of one or every queue would touch."""
    where = f"of queue {p['queue']}" if p.get("queue") else "of every queue"
    return f"{d.dead_count(p.get('queue'))} dead letter(s) {where}"


def _enabled_action(enabled: bool, warning: str) -> Action:
    """The enable and disable actions: the same shape, one flag apart."""
    verb = "enable" if enabled else "disable"
    return Action(verb, verb.capitalize(),
                  lambda d, p: f"{verb.capitalize()} entry {p['name']}?{warning}",
                  lambda d, p, who: d.set_enabled(p["name"], enabled, who),
                  f"{verb.capitalize()} an entry of the SQL source (409 for a schedules.yaml "
                  "entry)",
                  done=lambda r: f"{verb}d {r['entry']}")  # fmt: skip


_QUEUE = Param("queue", max_length=200, description="one queue (default: every queue)")

ACTIONS: tuple[Action, ...] = (
    Action("trigger", "Trigger now",
           lambda d, p: f"Run the task of entry {p['name']} now, outside its schedule?",
           lambda d, p, who: d.trigger(p["name"], who),
           "Run the entry's task now (beat trigger); answers the task id",
           done=lambda r: f"triggered {r['entry']}: task {r['task_id']}"),
    _enabled_action(True, ""),
    _enabled_action(False, " It stays stored but never fires."),
    Action("pause", "Pause",
           lambda d, p: f"Pause entry {p['name']}? Its fires are not sent until it is "
           "resumed, and are not replayed then.",
           lambda d, p, who: d.set_paused(p["name"], True, p["note"] or "", who),
           "Pause an entry (beat pause): kept in the run state, followed on the next tick",
           params=(Param("name", where="path", max_length=200),
                   Param("note", max_length=500, description="why (shown with the entry)")),
           fields=("note",)),
    Action("resume", "Resume",
           lambda d, p: f"Resume entry {p['name']}? It fires again from its next scheduled "
           "instant.",
           lambda d, p, who: d.set_paused(p["name"], False, "", who),
           "Resume a paused entry (beat resume)"),
    Action("revoke", "Revoke", _revoke_question,
           lambda d, p, who: d.revoke(p["task_id"], p["terminate"], who),
           "Revoke a task (beat revoke): queued or delayed ones are removed; with "
           "terminate=true a running one is stopped; the id never runs later",
           "/tasks/{task_id}/revoke",
           (Param("task_id", where="path", max_length=300),
            Param("terminate", kind="boolean", default=False,
                  description="stop the task if it is running (kill its process)")),
           _task_page),
    Action("requeue", "Requeue",
           lambda d, p: f"Requeue dead letter {p['message_id']} of queue {p['queue']} "
           "as a new delivery (same task id, attempts reset)?",
           lambda d, p, who: d.requeue_dead(p["queue"], [p["message_id"]], who),
           "Requeue one dead letter as a new delivery (beat dead requeue ID; 404: no such "
           "dead letter)",
           "/dead/{queue}/{message_id}/requeue",
           (Param("queue", where="path", max_length=200),
            Param("message_id", where="path", max_length=300)),
           _dead_page),
    Action("requeue_all", "Requeue all",
           lambda d, p: f"Requeue all {_dead_letters(d, p)} as new deliveries?",
           lambda d, p, who: d.requeue_dead(p["queue"], None, who),
           "Requeue every dead letter of a queue, or of every queue (beat dead requeue --all)",
           "/dead/requeue", (_QUEUE,), _dead_page),
    Action("purge_dead", "Purge",
           lambda d, p: f"Delete all {_dead_letters(d, p)}? This cannot be undone.",
           lambda d, p, who: d.purge_dead(p["queue"], who),
           "Delete the dead letters of a queue, or of every queue (beat dead purge)",
           "/dead/purge", (_QUEUE,), _dead_page),
)  # fmt: skip
