"""The instructions that install schedules.yaml (it holds the broker password) agree: 0640,
group beat, in the main README and in deploy/systemd/README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("doc", ["README.md", "deploy/systemd/README.md"])
def test_schedules_yaml_is_installed_0640_group_beat(doc: str) -> None:
    lines = [
        line
        for line in (REPO / doc).read_text().splitlines()
        if re.search(r"\binstall\b.*\bschedules\.yaml\b", line)
    ]
    assert lines, f"{doc}: no instruction installs schedules.yaml"
    for line in lines:
        assert re.search(r"install -m 0640 -g beat schedules\.yaml", line), f"{doc}: {line}"
