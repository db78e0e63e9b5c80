"""Where the operator's task modules are imported from.

``worker -A mytasks`` run in the directory holding ``mytasks.py`` must find it, as Celery
users expect (``celery -A`` puts the current directory on ``sys.path``); a console script's
``sys.path[0]`` is its own ``bin/`` directory, not the current one. The ``imports:`` of a
``schedules.yaml`` are likewise looked up next to that file. Prefork pool processes are fresh
interpreters that receive the parent's ``sys.path``, so adding them here covers them too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def task_import_dirs(config_file: Path | None) -> list[str]:
    """The directories to import task modules from, first first: the configuration file's
    directory (if any), then the current directory."""
    dirs = [] if config_file is None else [str(config_file.resolve().parent)]
    cwd = os.getcwd()
    return dirs if cwd in dirs else [*dirs, cwd]


def add_task_import_dirs(config_file: Path | None) -> list[str]:
    """Put :func:`task_import_dirs` at the front of ``sys.path`` (once each); return them."""
    dirs = task_import_dirs(config_file)
    for directory in reversed(dirs):
        if directory in sys.path:
            sys.path.remove(directory)
        sys.path.insert(0, directory)
    return dirs
