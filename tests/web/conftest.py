"""A real ``beat web`` process (and a real worker when a test needs tasks to run) over a real
broker: Redis or the SQLite queue; an HTTP client with its own cookie jar."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, ClassVar

import pytest

from taskqueue.message import Message
from tests.logged_process import LoggedProcess
from tests.worker.conftest import broker_url  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    """HTTP to the dashboard with a cookie jar (one browser, or one script)."""

    base: str
    jar: CookieJar = field(default_factory=CookieJar)

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = None
        all_headers = dict(headers or {})
        if form is not None:
            from urllib.parse import urlencode

            data = urlencode(form).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif method == "POST":
            data = b""
        req = urllib.request.Request(self.base + path, data, all_headers, method=method)
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        try:
            with opener.open(req, timeout=20) as resp:
                return Answer(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, dict(e.headers), e.read())

    def get(self, path: str, **kw: Any) -> Answer:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Answer:
        return self.request("POST", path, **kw)

    def csrf(self) -> str:
        answer = self.get("/api/session")
        assert answer.status == 200, answer.text
        token: str = answer.json()["csrf_token"]
        return token


@dataclass
class WebProcess(LoggedProcess):
    WHAT: ClassVar[str] = "beat web"
    WAIT_S: ClassVar[float] = 60  # start-up imports Starlette, Jinja2 and the broker
    base: str = ""

    def client(self) -> Client:
        return Client(self.base)


def beat_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    for key in ("BEAT_WEB_TOKEN", "BEAT_WEB_USER", "BEAT_WEB_PASSWORD_HASH", "BEAT_CONFIG"):
        env.pop(key, None)
    return {**env, **(extra or {})}


def run_beat(tmp_path: Path, config: Path, *args: str) -> str:
    """``beat ARGS`` in its own process over CONFIG and the run state the web test's beat
    web uses (tmp_path/schedule.db); its stdout."""
    return subprocess.run(
        [sys.executable, "-m", "beat", "-s", str(tmp_path / "schedule.db"), *args],
        capture_output=True,
        text=True,
        env=beat_env({"BEAT_CONFIG": str(config)}),
        cwd=tmp_path,
        check=True,
    ).stdout


def web_argv(config: Path, state: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "beat",
        "-s",
        str(state),
        "web",
        "--config",
        str(config),
        "--sample-every",
        "0.5",
        *args,
    ]


StartWeb = Callable[..., WebProcess]


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[StartWeb]:
    """Start ``beat web`` on a free port for ``config``; all are stopped at teardown."""
    procs: list[WebProcess] = []

    def start(config: Path, *args: str, env: dict[str, str] | None = None) -> WebProcess:
        port = free_port()
        log_path = tmp_path / f"web-{len(procs)}.log"
        argv = web_argv(config, tmp_path / "schedule.db", "--port", str(port), *args)
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                argv, stdout=log_file, stderr=subprocess.STDOUT, env=beat_env(env), cwd=tmp_path
            )
        web = WebProcess(proc, log_path, base=f"http://127.0.0.1:{port}")
        procs.append(web)
        web.wait_for_log("dashboard on http")
        _wait_listening(web, port)
        return web

    yield start
    for web in procs:
        if web.proc.poll() is None:
            web.proc.send_signal(signal.SIGTERM)
            try:
                web.proc.wait(10)
            except subprocess.TimeoutExpired:
                web.proc.kill()
                web.proc.wait(10)


def _wait_listening(web: WebProcess, port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise AssertionError(f"beat web exited {web.proc.returncode}:\n{web.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"beat web not listening after {timeout}s:\n{web.log()}")


@pytest.fixture
def run_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """A real worker (threads pool unless ``args`` say otherwise) on the queue ``default`` of a
    broker, with the worker tests' tasks (``t.sleep_mark`` ...); killed afterwards."""
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(url: str, *args: str) -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(procs)}.log"
        argv = [sys.executable, "-c", "from worker.cli import main; main()"]
        argv += ["--broker", url, "-P", "threads", "-c", "2", "-Q", "default", "-l", "debug"]
        argv += ["-A", "consumer_tasks", *args]
        tasks_dir = str(REPO / "tests" / "worker")
        env = beat_env()
        env["PYTHONPATH"] = os.pathsep.join([tasks_dir, env["PYTHONPATH"]])
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
            )
        procs.append((proc, log_path))
        LoggedProcess(proc, log_path).wait_for_log(" ready: ", timeout=60)
        return proc

    yield start
    for proc, _ in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def write_config(tmp_path: Path, broker: str, extra: str = "") -> Path:
    """A schedules.yaml with fixed-time New York entries (``spring``: 02:30 on the second
    Sunday of March, always in the DST gap), an interval entry, a disabled one, and ``extra``
    appended at the top level."""
    path = tmp_path / "schedules.yaml"
    path.write_text(
        f"""timezone: America/New_York
broker: {broker}
entries:
  nightly:
    task: log
    cron: "30 2 * * *"
    kwargs: {{message: nightly, password: kwargs-secret-123}}
  tick: {{task: log, every: 1h, kwargs: {{message: tick}}}}
  paused: {{task: log, every: 5m, enabled: false}}
  spring: {{task: log, cron: "30 2 * 3 0#2", kwargs: {{message: spring}}}}
{extra}"""
    )
    return path


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s (last: {last!r})")


def send(url: str, task: str, *args: Any, **fields: Any) -> Message:
    """Enqueue one message on the queue ``default`` of the broker at ``url``."""
    from taskqueue.urls import open_broker

    message = Message(id=uuid.uuid4().hex, task=task, queue="default", args=args, **fields)
    broker = open_broker(url)
    try:
        assert broker.enqueue_once(message)
    finally:
        broker.close()
    return message
