"""The ``worker:`` section as beat sees it: checked by the worker's own parser
(:mod:`taskqueue.worker_settings`, so ``beat check`` and the worker agree on every value) and
kept as written, since the worker reads the file itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beat.config.checker import Checker, NotJSON, plain
from beat.config.keys import WORKER_KEYS


def check_worker_section(checker: Checker, root: Mapping[Any, Any]) -> dict[str, Any]:
    """The ``worker:`` section as written (JSON values, unknown keys left out); every problem
    reported at the line of its key."""
    raw = root.get("worker")
    if raw is None:  # nothing to check: the worker's parser is not even imported (issue 17)
        return {}
    from taskqueue.worker_settings import parse_worker_section

    _, problems = parse_worker_section(raw)
    section: Mapping[Any, Any] = raw if isinstance(raw, Mapping) else {}
    for problem in problems:
        line = (
            checker.line_of(root, "worker")
            if problem.whole_section
            else checker.line_of(section, problem.key)
        )
        checker.report(line, problem.path, problem.message)
    try:
        copied: dict[str, Any] = plain(
            {k: v for k, v in section.items() if k in WORKER_KEYS}, "worker"
        )
    except NotJSON as e:
        checker.report(checker.line_of(section), e.where, e.message)
        return {}
    return copied
