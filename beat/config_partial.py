"""Moved to :mod:`beat.config.partial`; kept while beat/cli.py still imports it from here."""

from beat.config.partial import load_valid_entries

__all__ = ["load_valid_entries"]
