"""Byte-compile the project's sources before a start-up is measured, as an installed package is.

With ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and containers) and no ``__pycache__``,
every measured start would compile the project's modules again: tens of milliseconds for a
command, hundreds for the daemon, that no real installation pays after its first run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

# The project's own packages (the dependencies were compiled by pip when installed).
PACKAGES = ("beat", "taskqueue", "daemonkit", "worker")


def compile_sources(roots: Iterable[Path]) -> None:
    """``python -m compileall`` over :data:`PACKAGES` in each checkout of ``roots``."""
    packages = [str(root / name) for root in roots for name in PACKAGES if (root / name).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True)
