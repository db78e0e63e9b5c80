"""Who may use the dashboard: loopback by default, no other address without authentication,
tokens and hashed passwords from the configuration or the environment (never argv), sessions,
the Host check, and the ``web:`` section's validation."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from beat.web.passwords import hash_password, hash_problem, verify_password
from beat.web.settings import WebSettings, is_loopback, resolve, startup_problem
from tests.web.conftest import StartWeb, beat_env, free_port, web_argv, write_config

TOKEN = "web-token-secret-0123456789"


def run_web(tmp_path: Path, config: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``beat web`` expecting it to refuse to start: its stderr."""
    proc = subprocess.run(
        web_argv(config, tmp_path / "schedule.db", *args),
        capture_output=True,
        text=True,
        env=beat_env(env),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    return proc.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_other_address_without_auth_refuses_to_start(tmp_path: Path, host: str) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    err = run_web(tmp_path, config, "--host", host, "--port", str(free_port()))
    assert f"refusing to listen on {host} without authentication" in err


def test_host_from_the_config_is_checked_too(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", "web: {host: 0.0.0.0}\n")
    assert "refusing to listen on 0.0.0.0" in run_web(tmp_path, config)


def test_other_address_with_a_token_from_the_environment_starts(
    tmp_path: Path, start_web: StartWeb
) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    web = start_web(config, "--host", "0.0.0.0", env={"BEAT_WEB_TOKEN": TOKEN})
    client = web.client()
    assert client.get("/api/entries").status == 401
    page = client.get("/entries")
    assert page.status == 303 and page.headers["location"].startswith("/login")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/entries", headers=bearer).status == 200
    assert client.get("/api/entries", headers={"Authorization": "Bearer wrong"}).status == 401
    # A bearer token alone cannot change anything: a session and its CSRF token are needed.
    assert client.post("/api/entries/tick/trigger", headers=bearer).status == 403
    csrf = client.get("/api/session", headers=bearer).json()["csrf_token"]
    answer = client.post("/api/entries/tick/trigger", headers={"X-CSRF-Token": csrf})
    assert answer.status == 200, answer.text
    assert "token@127.0.0.1 triggered entry tick" in web.log()


def test_users_with_hashed_passwords(tmp_path: Path, start_web: StartWeb) -> None:
    stored = hash_password("correct horse")
    config = write_config(
        tmp_path, f"sqlite:///{tmp_path / 'q.db'}", f'web: {{users: {{alice: "{stored}"}}}}\n'
    )
    web = start_web(config)
    client = web.client()
    assert client.post("/login", form={"user": "alice", "secret": "wrong"}).status == 401
    assert "sign-in failed for 'alice'" in web.log()
    answer = client.post(
        "/login?next=//evil.example/", form={"user": "alice", "secret": "correct horse"}
    )
    assert answer.status == 303 and answer.headers["location"] == "/entries"
    assert client.get("/api/session").json()["user"] == "alice"
    basic = base64.b64encode(b"alice:correct horse").decode()
    assert (
        web.client().get("/api/leader", headers={"Authorization": f"Basic {basic}"}).status == 200
    )
    csrf = client.csrf()
    assert client.post("/logout", form={"csrf_token": csrf}).status == 303
    assert client.get("/api/session").status == 401


def test_host_header_must_be_loopback_without_auth(tmp_path: Path, start_web: StartWeb) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 gets nothing."""
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}"))
    client = web.client()
    assert client.get("/api/entries", headers={"Host": "evil.example:8808"}).status == 400
    assert client.get("/api/entries", headers={"Host": "localhost:8808"}).status == 200


def test_session_cookie_is_httponly_and_strict(tmp_path: Path, start_web: StartWeb) -> None:
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}"))
    cookie = web.client().get("/entries").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_no_session_for_static_files_or_cookie_less_api_reads(
    tmp_path: Path, start_web: StartWeb
) -> None:
    """Without authentication a page opens a ``local`` session (its forms need the CSRF
    token), but a stylesheet, a script or an API read does not: a monitor polling the API
    without cookies would otherwise fill the session table and push out the browser's."""
    web = start_web(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}"))
    for path in ("/static/dashboard.css", "/static/htmx.min.js", "/api/entries", "/api/queues"):
        answer = web.client().get(path)
        assert answer.status == 200, path
        assert "set-cookie" not in {k.lower() for k in answer.headers}, path
    page = web.client().get("/entries")
    assert page.status == 200 and "beat_session=" in page.headers["set-cookie"]
    session = web.client().get("/api/session")  # a script's way in: it gets one
    assert session.status == 200 and "beat_session=" in session.headers["set-cookie"]


def test_web_section_is_validated(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'q.db'}",
        "web: {port: 70000, read_only: maybe, token: short, users: {bob: plain}, colour: red}\n",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "beat", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=beat_env(),
        timeout=60,
    )
    assert proc.returncode == 2
    err = proc.stderr
    assert "web.port" in err and "70000" in err
    assert "web.read_only" in err and "expected true or false" in err
    assert "web.token" in err and "at least 16 characters" in err and "short" not in err
    assert "web.users.bob" in err
    assert "unknown key 'colour'" in err


def test_environment_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="BEAT_WEB_TOKEN"):
        resolve({}, {"BEAT_WEB_TOKEN": "short"}, host=None, port=None, read_only=False)
    with pytest.raises(ValueError, match="go together"):
        resolve({}, {"BEAT_WEB_USER": "a"}, host=None, port=None, read_only=False)
    settings = resolve(
        {"host": "::1", "port": 9000},
        {"BEAT_WEB_USER": "a", "BEAT_WEB_PASSWORD_HASH": hash_password("pw-pw-pw-pw")},
        host=None,
        port=None,
        read_only=False,
    )
    assert settings.host == "::1" and settings.port == 9000 and settings.auth_required
    assert "pw" not in repr(settings) and "scrypt" not in repr(settings)


def test_loopback_rule() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.org"))
    assert startup_problem(WebSettings(host="0.0.0.0")) is not None
    assert startup_problem(WebSettings(host="0.0.0.0", token=TOKEN)) is None
    assert startup_problem(WebSettings()) is None


def test_password_hashes() -> None:
    stored = hash_password("s3cret-pass")
    assert stored.startswith("scrypt$") and hash_problem(stored) is None
    assert verify_password("s3cret-pass", stored)
    assert not verify_password("s3cret-pasS", stored)
    import hashlib
    import os

    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 200_000)
    b64salt, b64digest = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    pbkdf2 = f"pbkdf2_sha256$200000${b64salt}${b64digest}"
    assert verify_password("pw", pbkdf2) and not verify_password("px", pbkdf2)
    assert hash_problem("plain") is not None
    assert hash_problem("pbkdf2_sha256$1000$AA==$AA==") is not None
    assert not verify_password("x", "scrypt$3$8$1$AA==$AA==")


def test_web_password_prints_a_hash_that_verifies(tmp_path: Path) -> None:
    """The password is read from the terminal (here: stdin, with no terminal), never argv."""
    proc = subprocess.run(
        [sys.executable, "-m", "beat", "web-password"],
        input="correct horse battery\ncorrect horse battery\n",
        capture_output=True,
        text=True,
        env=beat_env(),
        cwd=tmp_path,
        timeout=60,
        start_new_session=True,  # no controlling terminal: the prompt reads stdin
    )
    assert proc.returncode == 0, proc.stderr
    stored = proc.stdout.strip().splitlines()[-1]
    assert hash_problem(stored) is None
    assert verify_password("correct horse battery", stored)
    assert "correct horse" not in proc.stdout
