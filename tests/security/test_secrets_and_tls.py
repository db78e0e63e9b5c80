"""Redis passwords and TLS work, and a password never shows: not in logs, not in CLI output,
not in error messages (the wrong password included)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.faults import procs
from tests.faults.procs import RedisServer, StartProc, free_port, run_cli, wait_until

# Fixtures, bound here rather than in a conftest.py: tests/worker imports its own
# conftest by the bare module name 'conftest', which another conftest.py could shadow.
private_redis = procs.private_redis
spawn = procs.spawn

PASSWORD = "s3cr3t-Pw-4242"
WRONG = "wr0ng-Pw-9999"


def config_text(broker: str, marks: Path) -> str:
    return (
        f"broker: {broker}\n"
        "entries:\n"
        "  tick:\n"
        "    task: f.mark\n"
        "    every: 1s\n"
        f"    args: [{marks}, tick]\n"
    )


def runs(marks: Path) -> int:
    return marks.read_text().count("end tick") if marks.exists() else 0


def test_a_password_protected_redis_works_and_the_password_never_shows(
    tmp_path: Path, private_redis: Any, spawn: StartProc
) -> None:
    server: RedisServer = private_redis("--requirepass", PASSWORD, persistent=False)
    url = server.url(password=PASSWORD)
    marks = tmp_path / "marks"
    config = tmp_path / "schedules.yaml"
    config.write_text(config_text(url, marks))
    state = str(tmp_path / "schedule.db")
    beat = spawn("beat", "-s", state, "--config", str(config), "-l", "DEBUG")
    worker = spawn("worker", "--config", str(config), "-A", "fault_tasks", "-c", "1", "-l", "debug")
    wait_until(lambda: runs(marks) >= 2, 20, "scheduled tasks to run through the password")

    outputs: dict[str, str] = {}
    for name, args in {
        "config": ("config", "--config", str(config)),
        "queues": ("queues", "--config", str(config)),
        "queues-json": ("queues", "--json", "--config", str(config)),
        "list": ("list", "--config", str(config)),
        "send": ("send", "f.mark", "--args", json.dumps([str(marks), "sent"]),
                 "--config", str(config)),
        "check": ("check", "--config", str(config)),
    }.items():  # fmt: skip
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, (name, result.stdout, result.stderr)
        outputs[name] = result.stdout + result.stderr
    assert "***" in outputs["config"]  # shown redacted, not dropped
    queues = json.loads(run_cli("queues", "--json", "--config", str(config)).stdout)
    assert [q["name"] for q in queues] == ["default"] and queues[0]["consumers"] == 1

    # A wrong password: a clear error, exit 1, and neither password printed.
    wrong = server.url(password=WRONG)
    for args in (("queues", "--broker", wrong), ("send", "f.mark", "--broker", wrong)):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 1, result
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        outputs[f"wrong {args[0]}"] = result.stdout + result.stderr
    bad_beat = spawn("beat", "-s", str(tmp_path / "other.db"), "--config", str(config),
                     "--broker", wrong)  # fmt: skip
    assert bad_beat.proc.wait(30) == 1
    bad_worker = spawn("worker", "--broker", wrong, "-A", "fault_tasks")
    assert bad_worker.proc.wait(30) == 1

    assert beat.stop() == 0 and worker.stop() == 0
    outputs |= {"beat log": beat.log(), "worker log": worker.log()}
    outputs |= {"bad beat log": bad_beat.log(), "bad worker log": bad_worker.log()}
    assert "redis://:***@" in outputs["beat log"]  # the URL is logged, redacted
    for name, text in outputs.items():
        assert PASSWORD not in text, f"password in {name}:\n{text}"
        assert WRONG not in text, f"wrong password in {name}:\n{text}"


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def tls_redis(tmp_path: Path) -> Any:
    """A redis-server speaking only TLS, with a self-signed certificate for 127.0.0.1."""
    if shutil.which("redis-server") is None or shutil.which("openssl") is None:
        pytest.skip("redis-server or openssl is not on PATH")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    port = free_port()
    log = (tmp_path / "redis-tls.log").open("wb")
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", str(cert), "--tls-key-file", str(key),
         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    client: Any = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_cert_reqs="none")

    def up() -> bool:
        if proc.poll() is not None:
            pytest.skip(f"redis-server has no TLS here: {(tmp_path / 'redis-tls.log').read_text()}")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_until(up, 10, "the TLS redis-server")
    client.close()
    yield port, cert
    proc.kill()
    proc.wait(10)


def test_rediss_urls_work_for_beat_and_worker(
    tmp_path: Path, tls_redis: tuple[int, Path], spawn: StartProc
) -> None:
    port, cert = tls_redis
    verified = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"  # the certificate checked
    unverified = f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none"
    marks = tmp_path / "marks"
    config = tmp_path / "schedules.yaml"
    config.write_text(config_text(verified, marks))
    beat = spawn("beat", "-s", str(tmp_path / "schedule.db"), "--config", str(config))
    worker = spawn("worker", "--broker", unverified, "-A", "fault_tasks", "-c", "1")
    wait_until(lambda: runs(marks) >= 2, 20, "scheduled tasks to run over TLS")
    result = run_cli("queues", "--json", "--broker", verified, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["consumers"] == 1
    assert beat.stop() == 0 and worker.stop() == 0


def test_a_plain_redis_url_against_a_tls_server_fails_clearly(
    tmp_path: Path, tls_redis: tuple[int, Path]
) -> None:
    port, _ = tls_redis
    result = run_cli("queues", "--broker", f"redis://127.0.0.1:{port}/0", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert f"redis://127.0.0.1:{port}/0 is unreachable" in line


@pytest.mark.slow
def test_a_rediss_url_against_a_plain_server_fails_clearly(
    tmp_path: Path, private_redis: Any
) -> None:
    server: RedisServer = private_redis(persistent=False)
    url = server.url(password=PASSWORD, scheme="rediss")
    result = run_cli("queues", "--broker", url, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert f"rediss://:***@127.0.0.1:{server.port}/0 is unreachable" in line
    assert PASSWORD not in result.stderr


# --- database URLs ------------------------------------------------------------------------------

PG_PASSWORD = "pg-S3cret-7777"


def test_database_passwords_never_show(tmp_path: Path, postgres_url: str, spawn: StartProc) -> None:
    # The test server trusts local connections, so any password is accepted and must be hidden.
    with_pw = postgres_url.replace("://postgres@", f"://postgres:{PG_PASSWORD}@", 1)
    assert PG_PASSWORD in with_pw
    config = tmp_path / "schedules.yaml"
    config.write_text(
        f"broker: sqlite:///{tmp_path / 'queue.db'}\n"
        f"source: {with_pw}\n"
        "entries:\n  a:\n    task: f.mark\n    every: 1s\n    args: [/dev/null, a]\n"
    )
    outputs: dict[str, str] = {}
    for name in ("config", "list", "check"):
        result = run_cli(name, "--config", str(config), cwd=tmp_path)
        assert result.returncode == 0, (name, result.stderr)
        outputs[name] = result.stdout + result.stderr
    assert ":***@" in outputs["config"]
    unreachable = f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{free_port()}/test"
    result = run_cli("-s", unreachable, "--config", str(config), cwd=tmp_path)
    assert (
        result.returncode == 1 and "error: state store postgresql://postgres:***@" in result.stderr
    )
    outputs["unreachable"] = result.stdout + result.stderr
    beat = spawn("beat", "-s", with_pw, "--config", str(config), "-l", "DEBUG")
    beat.wait_for_log("fire a ", timeout=20)
    assert beat.stop() == 0
    outputs["beat log"] = beat.log()
    for name, text in outputs.items():
        assert PG_PASSWORD not in text, f"password in {name}:\n{text}"
