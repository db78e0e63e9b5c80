"""Fixtures for security tests: private redis-servers and real processes (tests/faults/procs.py)."""

from tests.faults.procs import private_redis, spawn

__all__ = ["private_redis", "spawn"]
