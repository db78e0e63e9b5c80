"""beat: the periodic scheduler. Reads entries, computes fires, enqueues each fire once."""

from __future__ import annotations

# First, before any module builds a zone: every zone comes from the tzdata package.
from beat.time import zones as _zones  # noqa: F401

__version__ = "0.1.0"
