"""The one mapping from an error to ``beat``'s exit code and ``error:`` lines (SPEC 3).

Each kind of error a command can end with, raised by a stand-in command and run through
:func:`beat.cli.errors.run`, the function behind ``beat``'s ``main``.
"""

from __future__ import annotations

import click
import pytest

from beat.cli.errors import RuntimeProblem, UsageProblem, run
from beat.errors import ConfigError, Problem, ScheduleError, SourceError, StateError
from taskqueue.errors import BrokerUnavailable, UnknownBrokerURL

PROBLEMS = [
    Problem("f.yaml", 3, "entries.a.every", "not a duration"),
    Problem("f.yaml", None, "", "not a mapping"),
]

CASES: dict[str, tuple[BaseException, int, list[str]]] = {
    "config": (
        ConfigError(PROBLEMS),
        2,
        ["error: f.yaml:3: entries.a.every: not a duration", "error: f.yaml: not a mapping"],
    ),
    "schedule": (ScheduleError("cron", "bad"), 2, ["error: cron: bad"]),
    "state": (StateError("state: locked"), 1, ["error: state: locked"]),
    "source": (SourceError("source: gone"), 1, ["error: source: gone"]),
    "broker": (
        BrokerUnavailable("redis://h:6379/0", "refused"),
        1,
        ["error: broker redis://h:6379/0 is unreachable: refused"],
    ),
    "url": (
        UnknownBrokerURL("bogus://x"),
        1,
        [
            "error: unsupported broker URL 'bogus://x': expected redis://, rediss://, unix://, "
            "redis+sentinel://HOST:PORT,.../SERVICE or sqlite:///PATH"
        ],
    ),
    "usage": (UsageProblem("--x: bad"), 2, ["error: --x: bad"]),
    "runtime": (RuntimeProblem("db down"), 1, ["error: db down"]),
    "abort": (click.Abort(), 130, ["error: aborted"]),
    "exit3": (click.exceptions.Exit(3), 3, []),
}


@click.group()
def stand_in() -> None:
    pass


@stand_in.command("raise")
@click.argument("kind")
def raise_cmd(kind: str) -> None:
    raise CASES[kind][0]


@stand_in.command("ok")
def ok_cmd() -> None:
    click.echo("fine")


def outcome(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as done:
        run(stand_in, list(argv))
    return int(done.value.code or 0), capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_error_maps_to_its_exit_code(capsys: pytest.CaptureFixture[str], kind: str) -> None:
    _, code, lines = CASES[kind]
    got_code, got_lines = outcome(capsys, "raise", kind)
    assert got_code == code
    assert got_lines == lines


def test_bad_usage_exits_2_with_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert outcome(capsys, "nope") == (2, ["error: No such command 'nope'."])


def test_success_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run(stand_in, ["ok"])
    assert done.value.code == 0 and capsys.readouterr().out == "fine\n"
