"""Every credential form that redis-py and SQLAlchemy accept in a URL is redacted, in every
output: the password in the user part, password-like query parameters (percent-encoded names
too), and passwords holding characters that end the host part for one library but not the
other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from redis.connection import parse_url

from beat.cli.render import redact
from taskqueue import urls
from taskqueue.errors import UnknownBrokerURL
from taskqueue.urls import redact_url
from tests.faults import procs
from tests.faults.procs import RedisServer, StartProc, run_cli

private_redis = procs.private_redis
spawn = procs.spawn

SECRET = "Sup3r-s3cret"

# (url, what must remain visible after redaction)
CASES = [
    (f"redis://:{SECRET}@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    (f"redis://beat:{SECRET}@127.0.0.1:6379/0", "redis://beat:***@127.0.0.1:6379/0"),
    (f"rediss://beat:{SECRET}@[::1]:6380/2", "rediss://beat:***@[::1]:6380/2"),
    (f"redis://127.0.0.1:6379/0?password={SECRET}", "redis://127.0.0.1:6379/0?password=***"),
    (
        f"redis://127.0.0.1:6379/0?db=1&password={SECRET}&socket_timeout=5",
        "redis://127.0.0.1:6379/0?db=1&password=***&socket_timeout=5",
    ),
    # parse_qs decodes names: redis-py reads this as password=.
    (f"redis://127.0.0.1:6379/0?pass%77ord={SECRET}", "redis://127.0.0.1:6379/0?pass%77ord=***"),
    (f"redis://127.0.0.1/0?ssl_password={SECRET}", "redis://127.0.0.1/0?ssl_password=***"),
    (f"unix:///run/redis.sock?db=0&password={SECRET}", "unix:///run/redis.sock?db=0&password=***"),
    (f"REDIS://:{SECRET}@localhost/0", "REDIS://:***@localhost/0"),
    # A password with '@', '/', '?' or '#': SQLAlchemy reads up to the first '@' after the
    # user, urllib up to the last '@' of the host part; both spans are hidden.
    (f"postgresql://beat:{SECRET}@x@db/app", "postgresql://beat:***@db/app"),
    (f"postgresql+psycopg://beat:{SECRET}/a?b#c@db/app", "postgresql+psycopg://beat:***@db/app"),
    (f"postgresql://beat@db/app?password={SECRET}", "postgresql://beat@db/app?password=***"),
    (f"postgresql:///app?host=/run/pg&password={SECRET}", "postgresql:///app?host=/run/pg&password=***"),
    (f"postgresql://db/app?sslpassword={SECRET}", "postgresql://db/app?sslpassword=***"),
    (f"mysql+pymysql://u:{SECRET}@h:notaport/db", "mysql+pymysql://u:***@h:notaport/db"),
    # Nothing secret: unchanged.
    ("redis://beat@127.0.0.1:6379/0", "redis://beat@127.0.0.1:6379/0"),
    ("sqlite:////var/lib/beat/queue.db", "sqlite:////var/lib/beat/queue.db"),
    ("redis://127.0.0.1/0?client_name=me@host", "redis://127.0.0.1/0?client_name=me@host"),
]  # fmt: skip


@pytest.mark.parametrize(("url", "shown"), CASES)
def test_redact_url_hides_every_credential_form(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert SECRET not in redact_url(url)


def test_the_forms_are_real_credentials_to_the_libraries() -> None:
    # The cases above are not invented: redis-py and SQLAlchemy read a password from them.
    assert parse_url(f"redis://127.0.0.1/0?pass%77ord={SECRET}")["password"] == SECRET
    assert parse_url(f"redis://127.0.0.1/0?password={SECRET}")["password"] == SECRET
    url = sa.make_url(f"postgresql://beat:{SECRET}@x@db/app")
    assert url.password == SECRET + "@x" or url.password == SECRET
    query = parse_qs(urlsplit(f"postgresql://db/app?sslpassword={SECRET}").query)
    assert query["sslpassword"] == [SECRET]


def test_redact_text_finds_urls_inside_messages() -> None:
    text = f"cannot reach redis://:{SECRET}@h/0 (and postgresql://u@h/d?password={SECRET})."
    assert (
        urls.redact_text(text)
        == "cannot reach redis://:***@h/0 (and postgresql://u@h/d?password=***)."
    )


def test_config_rendering_uses_the_same_rule() -> None:
    data: dict[str, Any] = {
        "broker": f"redis://127.0.0.1/0?password={SECRET}",
        "x": [f"a://:{SECRET}@b"],
    }
    assert SECRET not in json.dumps(redact(data))


def test_an_unsupported_broker_url_is_named_redacted() -> None:
    assert SECRET not in str(UnknownBrokerURL(f"amqp://guest:{SECRET}@rabbit//"))


def test_a_query_password_never_shows_in_commands_or_logs(
    tmp_path: Path, private_redis: Any, spawn: StartProc
) -> None:
    server: RedisServer = private_redis("--requirepass", SECRET, persistent=False)
    url = f"{server.url()}?password={SECRET}"
    config = tmp_path / "schedules.yaml"
    config.write_text(f"broker: {url}\nentries:\n  tick: {{task: log, every: 1s}}\n")
    outputs: dict[str, str] = {}
    for args in (("config",), ("config", "--json"), ("queues",), ("list",), ("check",)):
        result = run_cli(*args, "--config", str(config), cwd=tmp_path)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        outputs[" ".join(args)] = result.stdout + result.stderr
    assert "password=***" in outputs["config"]
    beat = spawn("beat", "-s", str(tmp_path / "s.db"), "--config", str(config), "-l", "DEBUG")
    beat.wait_for_log("fire tick ", timeout=20)
    worker = spawn("worker", "--config", str(config), "-c", "1", "-l", "debug")
    worker.wait_for_log("log", timeout=20)
    assert beat.stop() == 0 and worker.stop() == 0
    outputs |= {"beat log": beat.log(), "worker log": worker.log()}
    assert "password=***" in outputs["beat log"]
    wrong = f"{server.url()}?password=not-{SECRET}"
    result = run_cli("queues", "--broker", wrong, cwd=tmp_path)
    assert result.returncode == 1
    outputs["wrong"] = result.stdout + result.stderr
    for name, text in outputs.items():
        assert SECRET not in text, f"password in {name}:\n{text}"
