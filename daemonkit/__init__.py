"""What both daemons need to run as services, and nothing about scheduling or the wire:

- :mod:`daemonkit.logs`: one log line format (text or JSON) with ids as fields;
- :mod:`daemonkit.metrics`: Prometheus metrics of beat and worker, served on loopback;
- :mod:`daemonkit.yaml_tree`: the bounded YAML reader both daemons read schedules.yaml with
  (:mod:`daemonkit.yaml_input` reads the file, :mod:`daemonkit.yaml_repeats` reads values
  written alike once);
- :mod:`daemonkit.systemd`: READY/STOPPING/WATCHDOG notifications for ``Type=notify`` units.

``beat`` and ``worker`` import it; it imports neither them nor ``taskqueue`` (an
import-linter contract in pyproject.toml).
"""

from __future__ import annotations


class DaemonKitError(Exception):
    """Root of this package's errors."""
