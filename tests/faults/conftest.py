"""Fixtures for fault tests (defined in tests/faults/procs.py)."""

from tests.faults.procs import private_redis, spawn

__all__ = ["private_redis", "spawn"]
