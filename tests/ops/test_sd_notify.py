"""sd_notify over a real AF_UNIX datagram socket, in this process and in a child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemonkit import systemd


class NotifySocket:
    """The receiving end systemd would hold: a bound datagram socket."""

    def __init__(self, address: str, sock: socket.socket) -> None:
        self.address = address  # as $NOTIFY_SOCKET spells it
        self.sock = sock

    def receive(self, timeout_s: float = 5.0) -> list[str]:
        self.sock.settimeout(timeout_s)
        return self.sock.recv(4096).decode().split("\n")

    def receive_all(self, quiet_s: float = 0.3) -> list[list[str]]:
        """Every datagram until none arrives for ``quiet_s``."""
        got = []
        while True:
            try:
                got.append(self.receive(quiet_s))
            except TimeoutError:
                return got


@pytest.fixture
def path_socket() -> Iterator[NotifySocket]:
    # tmp_path can exceed the 108-byte limit of a socket path; a short directory cannot.
    directory = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield NotifySocket(path, sock)
    sock.close()
    os.unlink(path)
    os.rmdir(directory)


@pytest.fixture
def abstract_socket() -> Iterator[NotifySocket]:
    name = f"beat-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    yield NotifySocket("@" + name, sock)
    sock.close()


@pytest.fixture
def notified(path_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch) -> NotifySocket:
    """The path socket, named by NOTIFY_SOCKET for this test: where this process notifies."""
    monkeypatch.setenv("NOTIFY_SOCKET", path_socket.address)
    return path_socket


def test_outside_systemd_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
    assert systemd.ready() is False
    assert systemd.watchdog_ping() is False


def test_ready_status_watchdog_stopping_arrive_in_order(notified: NotifySocket) -> None:
    assert systemd.ready("3 entries, leader")
    assert notified.receive() == ["READY=1", "STATUS=3 entries, leader"]
    assert systemd.status("dispatching")
    assert notified.receive() == ["STATUS=dispatching"]
    assert systemd.watchdog_ping()
    assert notified.receive() == ["WATCHDOG=1"]
    assert systemd.stopping()
    assert notified.receive() == ["STOPPING=1"]


def test_abstract_namespace_address(
    abstract_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", abstract_socket.address)
    assert systemd.ready()
    assert abstract_socket.receive() == ["READY=1"]


def test_a_status_cannot_inject_other_fields(notified: NotifySocket) -> None:
    systemd.status("broker down\nREADY=1")
    assert notified.receive() == ["STATUS=broker down READY=1"]
    with pytest.raises(ValueError, match="KEY=VALUE"):
        systemd.notify("READY=1\nSTOPPING=1")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        systemd.notify("READY")


def test_unreachable_socket_returns_false_not_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert systemd.ready() is False
    assert "sd_notify" in caplog.text


def test_a_child_process_notifies_the_socket(path_socket: NotifySocket) -> None:
    code = textwrap.dedent(
        """
        from daemonkit import systemd
        assert systemd.ready("child up")
        assert systemd.watchdog_ping()
        assert systemd.stopping()
        """
    )
    env = {**os.environ, "NOTIFY_SOCKET": path_socket.address}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert path_socket.receive_all() == [
        ["READY=1", "STATUS=child up"],
        ["WATCHDOG=1"],
        ["STOPPING=1"],
    ]


# --- watchdog -----------------------------------------------------------------------------


def test_watchdog_interval_from_environment() -> None:
    pid = str(os.getpid())
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": pid}) == 30.0
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "2500000"}) == 2.5
    # Inherited by a child: the PID is the parent's, so the child must not ping.
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert systemd.watchdog_interval({}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_child_environ_drops_the_notify_variables() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "2", "PATH": "/bin"}
    assert systemd.child_environ(env) == {"PATH": "/bin"}


def test_watchdog_pings_at_half_the_interval_only_when_called() -> None:
    now = [100.0]
    sent: list[float] = []

    def ping() -> bool:
        sent.append(now[0])
        return True

    watchdog = systemd.Watchdog(10.0, clock=lambda: now[0], ping=ping)
    assert watchdog.period_s == 5.0
    assert watchdog.healthy() is True  # the first call pings at once
    for _ in range(39):  # a busy loop: 0.125 s per iteration (exact in binary) for 4.875 s
        now[0] += 0.125
        assert watchdog.healthy() is False
    assert sent == [100.0]
    now[0] += 0.125
    assert watchdog.healthy() is True
    assert sent == [100.0, 105.0]
    # The loop stops calling healthy(): time passes, and nothing is sent by anyone.
    now[0] += 60
    assert sent == [100.0, 105.0]
    assert watchdog.pings == 2


def test_disabled_watchdog_never_pings() -> None:
    calls: list[int] = []

    def ping() -> bool:
        calls.append(1)
        return True

    watchdog = systemd.Watchdog(None, ping=ping)
    watchdog.interval_s = None  # as outside systemd, whatever this test process inherited
    assert not watchdog.enabled
    assert watchdog.healthy() is False
    assert calls == []


@pytest.mark.slow
def test_a_stuck_main_loop_stops_pinging(path_socket: NotifySocket) -> None:
    """A real process under a 0.4 s watchdog: pings while its loop runs, none once it hangs."""
    code = textwrap.dedent(
        """
        import sys, time
        from daemonkit import systemd
        watchdog = systemd.Watchdog()
        assert watchdog.interval_s == 0.4, watchdog.interval_s
        systemd.ready()
        end = time.monotonic() + 1.0
        while time.monotonic() < end:       # a healthy loop for 1 s
            watchdog.healthy()
            time.sleep(0.01)
        print("stuck", flush=True)
        time.sleep(1.5)                     # the loop hangs: no thread keeps pinging
        """
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path_socket.address,
        "WATCHDOG_USEC": "400000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )
    assert path_socket.receive() == ["READY=1"]
    pings = 0
    while True:
        message = path_socket.receive()
        assert message == ["WATCHDOG=1"]
        pings += 1
        if pings >= 4:
            break
    assert proc.stdout is not None
    assert proc.stdout.readline() == "stuck\n"
    time.sleep(0.05)  # the last ping before "stuck" may still be in flight
    path_socket.receive_all(quiet_s=0.05)
    started = time.monotonic()
    assert path_socket.receive_all(quiet_s=1.0) == []
    assert time.monotonic() - started >= 1.0
    assert proc.wait(timeout=10) == 0
    # 1 s of healthy loop at one ping per 0.2 s: about five pings, never one per iteration.
    assert 4 <= pings <= 7
