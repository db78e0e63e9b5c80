"""Plain scalars resolved once per distinct text (issue 17): repeated keys like ``task`` skip
the resolvers' patterns, and every repeat still reads exactly as the first."""

from __future__ import annotations

import pytest

from daemonkit.yaml_tree import TreeBuilder, YamlProblems, load_yaml

TEXT = """\
a: {task: t, every: 30s, flag: true, n: 1, z: null, when: 2026-01-01, m: no}
b: {task: t, every: 30s, flag: true, n: 1, z: null, when: 2026-01-01, m: no}
"""


def test_repeated_plain_scalars_read_as_the_first_and_strings_are_remembered() -> None:
    problems: list[str] = []
    builder = TreeBuilder(lambda line, path, message: problems.append(message))
    tree = builder.build(TEXT)
    assert tree["a"] == tree["b"]
    assert tree["b"] == {
        "task": "t", "every": "30s", "flag": True, "n": 1, "z": None,
        "when": tree["a"]["when"], "m": False,
    }  # fmt: skip
    assert str(tree["b"]["when"]) == "2026-01-01"
    assert not problems
    # Only the texts that resolved to themselves are kept; values of other types are not.
    assert {"task", "30s"} <= builder.plain_strings
    assert not builder.plain_strings & {"true", "1", "null", "no", "on", "2026-01-01"}


def test_a_refused_plain_scalar_is_refused_each_time() -> None:
    with pytest.raises(YamlProblems) as e:
        load_yaml("a: =\nb: =\n")
    assert len(e.value.problems) == 2 and all("unsupported YAML tag" in p for p in e.value.problems)
