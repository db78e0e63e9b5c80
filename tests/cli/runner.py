"""Run the `beat` CLI in-process; return its exit code, stdout and stderr (one helper for all)."""

from __future__ import annotations

import pytest

from beat.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 1), out, err
