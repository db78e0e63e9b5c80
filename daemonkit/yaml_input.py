"""Reading a YAML file within bounds, and PyYAML's errors as problems with lines: what the
readers of :mod:`daemonkit.yaml_tree` (``schedules.yaml``, the worker's settings) share."""

from __future__ import annotations

from pathlib import Path

import yaml

from daemonkit.yaml_tree import YamlLimitExceeded

# A schedules.yaml of 100,000 entries is a few MiB; anything this large is a mistake.
MAX_YAML_BYTES = 64 * 1024 * 1024


def read_yaml_bytes(path: Path) -> bytes:
    """The file's bytes; :class:`YamlLimitExceeded` if it is over :data:`MAX_YAML_BYTES`.

    Reads at most one byte past the limit, so a huge file (or an endless one, like a device)
    costs nothing. OSError passes through.
    """
    with path.open("rb") as f:
        data = f.read(MAX_YAML_BYTES + 1)
    if len(data) > MAX_YAML_BYTES:
        raise YamlLimitExceeded(
            None, "", f"the file is larger than the limit of {MAX_YAML_BYTES // (1024 * 1024)} MiB"
        )
    return data


def yaml_error_line(error: yaml.YAMLError, text: str) -> int | None:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        return None if mark is None else int(mark.line) + 1
    position = getattr(error, "position", None)
    if isinstance(position, int):
        return text.count("\n", 0, position) + 1
    return None


def yaml_error_message(error: yaml.YAMLError, source: str) -> str:
    if isinstance(error, yaml.MarkedYAMLError):
        parts = [error.context, error.problem]
        text = ": ".join(p for p in parts if p) or "syntax error"
        mark = error.problem_mark
        if mark is not None and source[mark.index : mark.index + 1] == "\t":
            text += " (a tab: YAML indents with spaces only)"
    elif isinstance(error, yaml.reader.ReaderError):
        text = (
            f"unacceptable character #x{error.character:04x}"
            if isinstance(error.character, int)
            else str(error.reason)
        )
    else:
        text = str(error).splitlines()[0] if str(error) else "syntax error"
    return f"malformed YAML: {text}"
