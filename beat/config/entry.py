"""One entry of ``schedules.yaml`` (or one row of the SQL source) -> an :class:`Entry`.

The same rules serve the YAML file (problems carry lines) and plain mappings from the SQL
source and the entries API (:func:`validate_entry`, lines None).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from beat.config.checker import NAME, Checker, NotJSON, plain
from beat.config.keys import DEFAULT_KEYS, ENTRY_KEYS, OPTION_DURATIONS, OPTION_KEYS
from beat.config.schedule import check_schedule
from beat.config.spec_cache import SpecCache as SpecCache
from beat.config.spec_cache import Template, hashed_by_name
from beat.entries import DEFAULT_GRACE, DEFAULT_QUEUE, CatchUp, Entry, Overlap, TaskOptions
from beat.errors import ConfigError
from beat.messages import largest_message_size
from beat.time.durations import format_duration
from daemonkit.yaml_tree import segment
from taskqueue.config_text import describe
from taskqueue.message import MAX_MESSAGE_BYTES
from taskqueue.message_template import json_size_floor
from taskqueue.routes import Route, match

_NO_OPTIONS = TaskOptions()
# Shared by every entry without kwargs (an Entry and its values are never changed in place;
# a plain dict, not a read-only proxy, because kwargs are written out as JSON).
_NO_KWARGS: dict[str, Any] = {}
_CATCH_UPS = [c.value for c in CatchUp]
_OVERLAPS = [o.value for o in Overlap]


def validate_entry(
    name: str,
    data: Mapping[str, Any],
    *,
    zone: ZoneInfo,
    defaults: Mapping[str, Any],
    source: str = "yaml",
    file: str = "<input>",
    routes: Sequence[Route] = (),
    cache: SpecCache | None = None,
) -> Entry:
    """Validate one entry given as a plain mapping (the YAML form of an entry); raises
    :class:`ConfigError` with every problem (lines are None). ``defaults`` is the
    ``defaults:`` mapping, raw or as in :attr:`Config.defaults`; ``routes`` the
    configuration's :attr:`Config.routes`. ``cache``: one :class:`SpecCache` for many calls
    with the same zone, defaults and routes (a table's rows)."""
    checker = Checker(file)
    parsed_defaults = cache.defaults(defaults, check_defaults) if cache is not None else None
    if parsed_defaults is None:
        parsed_defaults = check_defaults(checker, defaults, None)
    entry = check_entry(
        checker, name, data, None, zone, parsed_defaults, source, routes=routes, cache=cache
    )
    if checker.problems or entry is None:
        raise ConfigError(checker.problems)
    return entry


def check_entry(
    checker: Checker,
    name: Any,
    data: Any,
    line: int | None,
    zone: ZoneInfo,
    defaults: Mapping[str, Any],
    source: str,
    routes: Sequence[Route] = (),
    cache: SpecCache | None = None,
) -> Entry | None:
    """One entry, or None after reporting why it is invalid. The first route matching its
    task fills what the entry does not set, over ``defaults`` (beat never imports task code,
    so ``@task(queue=...)`` cannot apply: see taskqueue.routes). ``cache``: see
    :class:`SpecCache` (one per zone, defaults and routes)."""
    named = isinstance(name, str) and NAME.fullmatch(name)
    if cache is not None and named and isinstance(data, dict | Mapping):
        key = cache.key(data, zone, defaults, source)
        template = cache.get(key)
        if template is None:
            before = len(checker.problems)
            entry = check_entry(checker, name, data, line, zone, defaults, source, routes)
            if entry is not None and len(checker.problems) == before:
                cache.put(key, entry, data)
            return entry
        return like_entry(checker, template, name, data, line, zone)
    path = f"entries.{segment(name)}"
    before = len(checker.problems)
    if not _name_and_shape(checker, name, data, line, path):
        return None
    checker.unknown_keys(data, ENTRY_KEYS, path)
    task = None
    if "task" not in data:
        checker.report(line, path, "missing required key 'task' (the task name to send)")
    else:
        task = checker.string(data, "task", path, "a task name")
        # Many entries name one task: one string for all of them, not one per entry.
        task = None if task is None else sys.intern(task)
    if "timezone" in data:
        zone = checker.zone(data, "timezone", path) or zone
    schedule = check_schedule(checker, name, data, line, path, zone)
    route = match(routes, task) if task is not None else None
    settings = _settings(checker, data, path, _routed(defaults, route))
    if len(checker.problems) > before or task is None or schedule is None:
        return None
    entry = Entry(name=name, task=task, schedule=schedule, source=source, **settings)
    return entry if _sendable(checker, entry, data, path) else None


def like_entry(
    checker: Checker,
    template: Template,
    name: str,
    data: Mapping[Any, Any],
    line: int | None,
    zone: ZoneInfo,
) -> Entry | None:
    """Entry ``name`` (a valid name) whose settings ``data`` are those ``template`` was
    validated with, but for its own arguments (a :class:`SpecCache` hit); or None after
    reporting why it is invalid. Only what may differ is checked: see :func:`check_like`, and
    without own settings, only whether the largest message still fits with this name."""
    if template.own:
        return check_like(checker, template, name, data, line, zone)
    entry = Entry.of(name, template.entry.spec)
    return _fitting(checker, template, entry, data, f"entries.{name}")


def _fitting(
    checker: Checker, template: Template, entry: Entry, data: Mapping[Any, Any], path: str
) -> Entry | None:
    """``entry`` (``template``'s message but for its name) if its largest message fits:
    known for a name no longer than one measured, else measured (and remembered)."""
    if template.fits(entry.name):
        return entry
    if not _sendable(checker, entry, data, path):
        return None
    template.fitted(entry.name)
    return entry


def check_like(
    checker: Checker,
    template: Template,
    name: str,
    data: Mapping[Any, Any],
    line: int | None,
    zone: ZoneInfo,
) -> Entry | None:
    """Entry ``name`` with the settings of ``template`` (validated with the same flat
    settings): only what may differ is checked again, with the same rules and problems as
    :func:`check_entry`: its own arguments, an ``H`` schedule (its fires depend on the name)
    and the size of its largest message (the name is in it)."""
    changes: dict[str, Any] = {}
    path = f"entries.{name}"  # a valid name is written as is (segment)
    before = len(checker.problems)
    if hashed_by_name(data):
        if "timezone" in data:  # valid: the template was built with it
            zone = checker.zone(data, "timezone", path) or zone
        changes["schedule"] = check_schedule(checker, name, data, line, path, zone)
    if "args" in data:
        changes["args"] = _args(checker, data, path)
    if "kwargs" in data:
        changes["kwargs"] = _kwargs(checker, data, path)
    schedule = changes.get("schedule", template.entry.schedule)
    if len(checker.problems) > before or schedule is None:
        return None
    if "args" not in changes and "kwargs" not in changes:
        # Its own schedule only: the template's message but for the name (its size too).
        entry = Entry.of(name, template.with_schedule(schedule))
        return _fitting(checker, template, entry, data, path)
    entry = Entry.of(name, template.with_arguments(changes))
    return entry if _sendable(checker, entry, data, path) else None


def _name_and_shape(checker: Checker, name: Any, data: Any, line: int | None, path: str) -> bool:
    """Whether the entry can be read at all: a string name (a malformed one is reported and
    the entry still checked) and a mapping of settings."""
    if not isinstance(name, str):
        checker.report(
            line, "entries", f"entry name must be a string, got {describe(name)} (quote it)"
        )
        return False
    if not NAME.fullmatch(name):
        checker.report(
            line, path, f"invalid entry name {name!r}: use 1-200 letters, digits and _ . : @ -"
        )
    if not isinstance(data, Mapping):
        checker.report(line, path, f"expected a mapping of entry settings, got {describe(data)}")
        return False
    return True


def _settings(
    checker: Checker, data: Mapping[Any, Any], path: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """The entry's settings other than task and schedule, defaults applied."""
    queue = defaults.get("queue", DEFAULT_QUEUE)
    if "queue" in data:
        queue = check_queue(checker, data, path) or queue
    args = _args(checker, data, path) if "args" in data else ()
    kwargs = _kwargs(checker, data, path) if "kwargs" in data else _NO_KWARGS
    options = _merged_options(checker, data, path, defaults.get("options") or {})
    catch_up = CatchUp(defaults.get("catch_up", CatchUp.LATEST))
    if "catch_up" in data:
        chosen = checker.choice(data, "catch_up", path, _CATCH_UPS)
        catch_up = CatchUp(chosen) if chosen is not None else catch_up
    grace = defaults.get("grace", DEFAULT_GRACE)
    if "grace" in data:
        grace = checker.duration(data, "grace", path) or grace
    return {
        "queue": queue,
        "args": args,
        "kwargs": kwargs,
        "options": options,
        "catch_up": catch_up,
        "grace": grace,
        "enabled": _flag(checker, data, path, "enabled", True),
        **_jitter_setting(checker, data, path, defaults),
        **_run_policies(checker, data, path, defaults),
    }


def _routed(defaults: Mapping[str, Any], route: Route | None) -> Mapping[str, Any]:
    """``defaults`` with ``route``'s queue and options over them (the entry's own win)."""
    if route is None:
        return defaults
    options = {
        key: value
        for key in ("priority", "expires", "soft_time_limit", "time_limit", "max_retries")
        if (value := getattr(route, key)) is not None
    }
    out = {**defaults, "options": {**(defaults.get("options") or {}), **options}}
    if route.queue is not None:
        out["queue"] = route.queue
    return out


# --- run policies (overlap, pause_on_failure) ----------------------------------------------
def _run_policies(
    checker: Checker, data: Mapping[Any, Any], path: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    overlap = Overlap(defaults.get("overlap", Overlap.ALLOW))
    if "overlap" in data:
        chosen = checker.choice(data, "overlap", path, _OVERLAPS)
        overlap = Overlap(chosen) if chosen is not None else overlap
    return {
        "overlap": overlap,
        "pause_on_failure": _flag(checker, data, path, "pause_on_failure", False),
    }


# --- end of run policies --------------------------------------------------------------------


def _flag(checker: Checker, data: Mapping[Any, Any], path: str, key: str, default: bool) -> bool:
    value = data.get(key, default)
    if isinstance(value, bool):
        return value
    checker.report(
        checker.line_of(data, key),
        f"{path}.{key}",
        f"expected true or false, got {describe(value)}",
    )
    return default


def fits_in_a_message(entry: Entry) -> bool:
    """Whether every message of ``entry`` fits the broker's size limit."""
    return largest_message_size(entry) <= MAX_MESSAGE_BYTES


def _sendable(checker: Checker, entry: Entry, data: Mapping[Any, Any], path: str) -> bool:
    """Whether every message of ``entry`` fits (:func:`fits_in_a_message`); else a problem
    naming the larger of args and kwargs (the rest of a message is small and bounded)."""
    if fits_in_a_message(entry):
        return True
    size = largest_message_size(entry)
    key = "kwargs" if json_size_floor(entry.kwargs) >= json_size_floor(entry.args) else "args"
    where, line = path, checker.line_of(data)
    if key in data:
        where, line = f"{path}.{key}", checker.line_of(data, key)
    checker.report(
        line,
        where,
        f"too large to send: its largest message would be {size} bytes, over the limit "
        f"of {MAX_MESSAGE_BYTES} bytes",
    )
    return False


def _args(checker: Checker, data: Mapping[Any, Any], path: str) -> tuple[Any, ...]:
    value = data["args"]
    line = checker.line_of(data, "args")
    if not isinstance(value, list | tuple):
        checker.report(line, f"{path}.args", f"expected a list, got {describe(value)}")
        return ()
    try:
        return tuple(plain(value, f"{path}.args"))
    except NotJSON as e:
        checker.report(line, e.where, e.message)
        return ()


def _kwargs(checker: Checker, data: Mapping[Any, Any], path: str) -> dict[str, Any]:
    value = data["kwargs"]
    line = checker.line_of(data, "kwargs")
    if not isinstance(value, Mapping):
        checker.report(
            line, f"{path}.kwargs", f"expected a mapping of names to values, got {describe(value)}"
        )
        return {}
    try:
        copied: dict[str, Any] = plain(value, f"{path}.kwargs")
    except NotJSON as e:
        checker.report(line, e.where, e.message)
        return {}
    return copied


def check_queue(checker: Checker, data: Mapping[Any, Any], path: str) -> str | None:
    value = data["queue"]
    if isinstance(value, str) and NAME.fullmatch(value):
        return sys.intern(value)  # shared by the entries of the queue
    checker.report(
        checker.line_of(data, "queue"),
        f"{path}.queue",
        f"expected a queue name (letters, digits, _ . : @ -), got {describe(value)}",
    )
    return None


# --- options and defaults -------------------------------------------------------------------


def check_options(checker: Checker, data: Mapping[Any, Any], path: str) -> dict[str, Any]:
    """The valid options of an ``options:`` mapping, durations parsed."""
    checker.unknown_keys(data, OPTION_KEYS, path)
    out: dict[str, Any] = {}
    for key in OPTION_KEYS:
        if key not in data:
            continue
        if key in OPTION_DURATIONS:
            value: Any = checker.duration(data, key, path)
        elif key == "priority":
            value = checker.integer(data, key, path, 0, 9)
        else:
            value = checker.integer(data, key, path, 0)
        if value is not None:
            out[key] = value
    return out


def _merged_options(
    checker: Checker, data: Mapping[Any, Any], path: str, defaults: Mapping[str, Any]
) -> TaskOptions:
    own: dict[str, Any] = {}
    raw: Mapping[Any, Any] = {}
    if "options" in data:
        raw = checker.mapping(
            data["options"], checker.line_of(data, "options"), f"{path}.options", "task options"
        )
        own = check_options(checker, raw, f"{path}.options")
    if not own and not defaults:
        return _NO_OPTIONS
    merged = {**defaults, **own}
    soft, hard = merged.get("soft_time_limit"), merged.get("time_limit")
    if soft is not None and hard is not None and hard < soft:
        key = "time_limit" if "time_limit" in raw else "soft_time_limit"
        line = checker.line_of(raw, key) if key in raw else checker.line_of(data, "options")
        checker.report(
            line if line is not None else checker.line_of(data),
            f"{path}.options.{key}",
            f"time_limit ({format_duration(hard)}) must not be shorter than "
            f"soft_time_limit ({format_duration(soft)})",
        )
    return TaskOptions(**{k: v for k, v in merged.items() if k in OPTION_KEYS})


def check_defaults(checker: Checker, data: Any, line: int | None) -> dict[str, Any]:
    """The valid keys of ``defaults:``; problems are reported once, under ``defaults``."""
    section = checker.mapping(data, line, "defaults", "entry defaults")
    checker.unknown_keys(section, DEFAULT_KEYS, "defaults")
    out: dict[str, Any] = {}
    if "queue" in section and (queue := check_queue(checker, section, "defaults")) is not None:
        out["queue"] = queue
    if "catch_up" in section:
        catch_up = checker.choice(section, "catch_up", "defaults", _CATCH_UPS)
        if catch_up is not None:
            out["catch_up"] = CatchUp(catch_up)
    if "grace" in section and (grace := checker.duration(section, "grace", "defaults")):
        out["grace"] = grace
    if "overlap" in section:  # run policies
        overlap = checker.choice(section, "overlap", "defaults", _OVERLAPS)
        if overlap is not None:
            out["overlap"] = Overlap(overlap)
    if "options" in section:
        raw = checker.mapping(
            section["options"],
            checker.line_of(section, "options"),
            "defaults.options",
            "task options",
        )
        out["options"] = check_options(checker, raw, "defaults.options")
    if "jitter" in section and (jitter := check_jitter(checker, section, "defaults")) is not None:
        out["jitter"] = jitter
    return out


# --- jitter (a per-entry policy; also in defaults) ---------------------------------------------


def check_jitter(checker: Checker, data: Mapping[Any, Any], path: str) -> timedelta | None:
    """``jitter: 30s``: the largest delay added to each fire's send time (0 for none)."""
    return checker.duration(data, "jitter", path, allow_zero=True)


def _jitter_setting(
    checker: Checker, data: Mapping[Any, Any], path: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    jitter = defaults.get("jitter")
    if "jitter" in data:
        own = check_jitter(checker, data, path)
        jitter = own if own is not None else jitter  # `jitter: 0` turns a default off
    return {} if jitter is None else {"jitter": jitter}
