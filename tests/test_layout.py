"""Issue 13: no module of the project is over 450 lines (one job each, read in one sitting)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("beat", "worker", "taskqueue", "daemonkit")
MAX_LINES = 450


def module_lengths() -> dict[str, int]:
    return {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_every_module_is_at_most_450_lines() -> None:
    lengths = module_lengths()
    assert len(lengths) > 100  # the walk found the packages
    offenders = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert offenders == {}, f"modules over {MAX_LINES} lines (split them): {offenders}"
