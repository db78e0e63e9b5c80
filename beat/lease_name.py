"""The name of beat's leader lease in the broker, apart from :mod:`beat.leader` so that ``beat
list`` can show who leads without importing the elector (logging, its thread; issue 12)."""

from __future__ import annotations

DEFAULT_LEASE_NAME = "beat"
