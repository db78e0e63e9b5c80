"""``beat entries ...`` through the real entry point (``beat.cli.main``): output, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beat.cli import main
from beat.entries_api import EntryStore

REPO = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(f"timezone: Europe/Berlin\nsource: '{db_url}'\ndefaults: {{queue: low}}\n")
    return path


def test_add_list_update_disable_remove(
    capsys: pytest.CaptureFixture[str], config: Path, db_url: str
) -> None:
    c = ("entries", "--config", str(config))
    code, out, err = run(
        capsys, *c, "add", "report", "--task", "app.report", "--cron", "30 2 * * *",
        "--tz", "America/New_York", "--args", "[42]", "--kwargs", '{"full": true}',
        "--options", '{"priority": 5}',
    )  # fmt: skip
    assert (code, out, err) == (0, "added report\n", "")
    code, out, _ = run(capsys, *c, "add", "ping", "--yaml", "{task: app.ping, every: 30s}")
    assert code == 0
    code, out, _ = run(capsys, *c, "list", "--json")
    rows = json.loads(out)
    assert rows == [
        {"name": "ping", "task": "app.ping", "every": "30s"},
        {
            "name": "report",
            "task": "app.report",
            "cron": "30 2 * * *",
            "timezone": "America/New_York",
            "args": [42],
            "kwargs": {"full": True},
            "options": {"priority": 5},
        },
    ]
    code, out, _ = run(capsys, *c, "list")
    assert out.splitlines()[0].split() == ["NAME", "SCHEDULE", "ZONE", "QUEUE", "TASK", "ENABLED"]
    assert "cron 30 2 * * *" in out and "America/New_York" in out
    assert run(capsys, *c, "update", "ping", "--every", "1m")[0] == 0
    assert run(capsys, *c, "disable", "report")[:2] == (0, "disabled report\n")
    with EntryStore(db_url) as store:
        assert store.get("ping")["every"] == "1m"
        assert store.get("report")["enabled"] is False
    assert run(capsys, *c, "enable", "report")[0] == 0
    assert run(capsys, *c, "remove", "ping")[:2] == (0, "removed ping\n")
    with EntryStore(db_url) as store:
        assert store.names() == ["report"]
        assert "enabled" not in store.get("report")


def test_errors_are_error_lines_with_exit_2(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    c = ("entries", "--config", str(config))
    code, out, err = run(capsys, *c, "add", "x", "--task", "t", "--cron", "60 * * * *")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"error: {_source_name(config)}: entries.x.cron: minute: 60 is out of range 0-59"
    ]
    code, _, err = run(capsys, *c, "add", "x", "--task", "t", "--evry", "5s")
    assert code == 2 and "Did you mean '--every'?" in err and err.startswith("error:")
    assert run(capsys, *c, "add", "x", "--task", "t", "--every", "5s")[0] == 0
    code, _, err = run(capsys, *c, "add", "x", "--task", "t", "--every", "5s")
    assert code == 2 and err.strip().endswith("entry 'x' already exists (use update to change it)")
    code, _, err = run(capsys, *c, "remove", "y")
    assert code == 2 and "no entry named 'y'" in err
    code, _, err = run(capsys, *c, "add", "z", "--task", "t", "--every", "5s", "--args", "{")
    assert code == 2 and err.startswith("error: --args: not valid JSON")
    code, _, err = run(
        capsys, *c, "add", "w", "--yaml", "{task: t, every: 5s, evry: 1s, queue: [1]}"
    )
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert any("unknown key 'evry' (did you mean 'every'?)" in line for line in lines)


def _source_name(config: Path) -> str:
    from beat.config import load_config

    return load_config(config).source


def test_no_source_configured_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "schedules.yaml"
    path.write_text("entries: {}\n")
    code, _, err = run(capsys, "entries", "--config", str(path), "list")
    assert code == 2 and "no SQL source: give --source URL" in err


def test_unreachable_database_exits_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
    code, _, err = run(capsys, "entries", "--config", str(tmp_path / "none.yaml"),
                       "--source", url, "list")  # fmt: skip
    assert code == 1 and err.startswith("error: ")


def test_import_export_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, db_url: str
) -> None:
    config = tmp_path / "schedules.yaml"
    config.write_text(
        (REPO / "schedules.yaml").read_text() + f"\nsource: '{db_url}'\n", encoding="utf-8"
    )
    c = ("entries", "--config", str(config))
    assert run(capsys, *c, "import", str(REPO / "schedules.yaml"))[:2] == (
        0,
        "imported 5 entries\n",
    )
    code, _, err = run(capsys, *c, "import", str(REPO / "schedules.yaml"))
    assert code == 2 and err.count("error: ") == 5 and "already exists" in err
    out_file = tmp_path / "out.yaml"
    assert run(capsys, *c, "export", "-o", str(out_file))[0] == 0
    code, stdout, _ = run(capsys, *c, "export")
    assert stdout == out_file.read_text()
    assert "heartbeat:" in stdout and "month-end:" in stdout and "enabled: false" in stdout


def test_config_given_before_the_group(
    capsys: pytest.CaptureFixture[str], config: Path, db_url: str
) -> None:
    code, out, _ = run(capsys, "--config", str(config), "entries", "add", "p", "--task", "t",
                       "--every", "5s")  # fmt: skip
    assert (code, out) == (0, "added p\n")
    with EntryStore(db_url) as store:
        assert store.names() == ["p"]
