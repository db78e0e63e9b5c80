"""beat: the periodic scheduler. Reads entries, computes fires, enqueues each fire once."""

from __future__ import annotations

__version__ = "0.1.0"
