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

from beat.web.dashboard import Dashboard
from beat.web.params import Param

# (dashboard, parsed parameters, who) -> what was done (the API's answer)
Perform = Callable[[Dashboard, dict[str, Any], str], dict[str, Any]]


@dataclass(frozen=True)
class Action:
    name: str
    path: str
    label: str
    # What the confirmation page asks (it may count what the action would touch).
    question: Callable[[Dashboard, dict[str, Any]], str]
    perform: Perform
    back: Callable[[dict[str, Any]], str]  # the page to return to afterwards
    done: Callable[[dict[str, Any]], str]  # what the page says was done
    summary: str
    params: tuple[Param, ...]
    # Parameters the confirmation page asks for (text fields posted with the form).
    fields: tuple[str, ...] = ()


_NAME = (Param("name", where="path", max_length=200),)


def _entry_page(p: dict[str, Any]) -> str:
    from urllib.parse import quote

    return f"/entries/{quote(p['name'], safe='')}"


def _pause_done(r: dict[str, Any]) -> str:
    return str(r["done"])


def _task_page(p: dict[str, Any]) -> str:
    from urllib.parse import quote

    return f"/tasks/{quote(p['task_id'], safe='')}"


def _revoke_question(d: Dashboard, p: dict[str, Any]) -> str:
    if p["terminate"]:
        return f"Revoke task {p['task_id']} and stop it if it is running (its process is killed)?"
    return f"Revoke task {p['task_id']}? If queued or delayed it is removed; it never runs later."


def _dead_page(p: dict[str, Any]) -> str:
    from urllib.parse import quote

    return "/dead" + (f"?queue={quote(p['queue'], safe='')}" if p.get("queue") else "")


def _where(p: dict[str, Any]) -> str:
    return f"of queue {p['queue']}" if p.get("queue") else "of every queue"


def _dead_count(d: Dashboard, p: dict[str, Any]) -> int:
    return int(d.dead_count(p.get("queue")))


_QUEUE = Param("queue", max_length=200, description="one queue (default: every queue)")


def _enabled_action(enabled: bool, warning: str) -> Action:
    """The enable and disable actions: the same shape, one flag apart."""
    verb = "enable" if enabled else "disable"
    return Action(
        name=verb,
        path=f"/entries/{{name}}/{verb}",
        label=verb.capitalize(),
        question=lambda d, p: f"{verb.capitalize()} entry {p['name']}?{warning}",
        perform=lambda d, p, who: d.set_enabled(p["name"], enabled, who),
        back=_entry_page,
        done=lambda r: f"{verb}d {r['entry']}",
        summary=f"{verb.capitalize()} an entry of the SQL source (409 for a schedules.yaml entry)",
        params=_NAME,
    )


ACTIONS: tuple[Action, ...] = (
    Action(
        name="trigger",
        path="/entries/{name}/trigger",
        label="Trigger now",
        question=lambda d, p: f"Run the task of entry {p['name']} now, outside its schedule?",
        perform=lambda d, p, who: d.trigger(p["name"], who),
        back=_entry_page,
        done=lambda r: f"triggered {r['entry']}: task {r['task_id']}",
        summary="Run the entry's task now (beat trigger); answers the task id",
        params=_NAME,
    ),
    _enabled_action(True, ""),
    _enabled_action(False, " It stays stored but never fires."),
    Action(
        name="pause",
        path="/entries/{name}/pause",
        label="Pause",
        question=lambda d, p: (
            f"Pause entry {p['name']}? Its fires are not sent until it is "
            "resumed, and are not replayed then."
        ),
        perform=lambda d, p, who: d.set_paused(p["name"], True, p["note"] or "", who),
        back=_entry_page,
        done=_pause_done,
        summary="Pause an entry (beat pause): kept in the run state, followed on the next tick",
        params=(*_NAME, Param("note", max_length=500, description="why (shown with the entry)")),
        fields=("note",),
    ),
    Action(
        name="resume",
        path="/entries/{name}/resume",
        label="Resume",
        question=lambda d, p: (
            f"Resume entry {p['name']}? It fires again from its next scheduled instant."
        ),
        perform=lambda d, p, who: d.set_paused(p["name"], False, "", who),
        back=_entry_page,
        done=_pause_done,
        summary="Resume a paused entry (beat resume)",
        params=_NAME,
    ),
    Action(
        name="revoke",
        path="/tasks/{task_id}/revoke",
        label="Revoke",
        question=_revoke_question,
        perform=lambda d, p, who: d.revoke(p["task_id"], p["terminate"], who),
        back=_task_page,
        done=lambda r: str(r["done"]),
        summary="Revoke a task (beat revoke): queued or delayed ones are removed; with "
        "terminate=true a running one is stopped; the id never runs later",
        params=(
            Param("task_id", where="path", max_length=300),
            Param(
                "terminate",
                kind="boolean",
                default=False,
                description="stop the task if it is running (kill its process)",
            ),
        ),
    ),
    Action(
        name="requeue",
        path="/dead/{queue}/{message_id}/requeue",
        label="Requeue",
        question=lambda d, p: (
            f"Requeue dead letter {p['message_id']} of queue {p['queue']} "
            "as a new delivery (same task id, attempts reset)?"
        ),
        perform=lambda d, p, who: d.requeue_dead(p["queue"], [p["message_id"]], who),
        back=_dead_page,
        done=lambda r: str(r["done"]),
        summary="Requeue one dead letter as a new delivery (beat dead requeue ID; 404: no such "
        "dead letter)",
        params=(
            Param("queue", where="path", max_length=200),
            Param("message_id", where="path", max_length=300),
        ),
    ),
    Action(
        name="requeue_all",
        path="/dead/requeue",
        label="Requeue all",
        question=lambda d, p: (
            f"Requeue all {_dead_count(d, p)} dead letter(s) {_where(p)} as new deliveries?"
        ),
        perform=lambda d, p, who: d.requeue_dead(p["queue"], None, who),
        back=_dead_page,
        done=lambda r: str(r["done"]),
        summary="Requeue every dead letter of a queue, or of every queue (beat dead requeue --all)",
        params=(_QUEUE,),
    ),
    Action(
        name="purge_dead",
        path="/dead/purge",
        label="Purge",
        question=lambda d, p: (
            f"Delete all {_dead_count(d, p)} dead letter(s) {_where(p)}? This cannot be undone."
        ),
        perform=lambda d, p, who: d.purge_dead(p["queue"], who),
        back=_dead_page,
        done=lambda r: str(r["done"]),
        summary="Delete the dead letters of a queue, or of every queue (beat dead purge)",
        params=(_QUEUE,),
    ),
)
