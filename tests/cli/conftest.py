"""Real brokers and real worker processes for the operator commands (``beat workers``,
``revoke``, ``dead``, ``purge``): the worker tests' fixtures, shared."""

from tests.worker.conftest import broker, broker_url, start_worker  # noqa: F401
