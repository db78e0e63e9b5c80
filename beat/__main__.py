"""``python -m beat``: the same as the ``beat`` console script."""

from __future__ import annotations

from beat.cli import main

main()
