"""Did-you-mean hints: the one implementation is :mod:`taskqueue.config_text` (the worker
uses it too); kept here for the CLI's call-time imports."""

from __future__ import annotations

from taskqueue.config_text import CUTOFF, did_you_mean

__all__ = ["CUTOFF", "did_you_mean"]
