"""YAML inputs the Hypothesis config fuzzer (tests/config/test_config_fuzz.py) cannot reach by
chance: deep nesting, tags, control characters. Each gives a ConfigError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from beat.config import load_config
from beat.errors import ConfigError

CASES = {
    "deep-flow": "entries: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "deep-block": "entries:\n" + "".join(" " * i + f"k{i}:\n" for i in range(3_000)),
    "deep-entry-args": "entries:\n  a:\n    task: t\n    every: 1s\n    args: "
    + "[" * 5_000
    + "]" * 5_000
    + "\n",
    "python-tag": "entries: !!python/object/apply:os.system ['true']\n",
    "binary-tag": "entries: !!binary AAAA\n",
    "nul": "entries:\n  a\x00: {task: t, every: 1s}\n",
    "bom-and-tabs": "\ufeffentries:\n\ta:\n\t\ttask: t\n",
    "huge-int": "entries:\n  a: {task: t, every: " + "9" * 5_000 + "}\n",
    "not-utf8": b"entries:\n  \xff\xfe: {task: t, every: 1s}\n".decode("latin-1"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_edge_yaml_gives_a_config_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / "schedules.yaml"
    text = CASES[name]
    if name == "not-utf8":
        path.write_bytes(text.encode("latin-1"))
    else:
        path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
