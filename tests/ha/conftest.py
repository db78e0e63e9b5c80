"""Real beat processes sharing one broker and one state file, for the leader-lease tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pytest

from tests.daemon.conftest import BeatProcess, StartBeat, beat_starter
from tests.daemon.conftest import write_config as daemon_config

# Lease time in the process tests: short, so takeovers are quick to observe.
TTL_S = 1.0


def write_config(path: Path, n: int, *, every: str = "1s") -> Path:
    """``n`` entries every second from a fixed start; catch_up all, so a takeover gap is
    replayed and the fires of each entry form an unbroken run."""
    return daemon_config(path, n, every=every, extra="catch_up: all")


@pytest.fixture
def start_beat(tmp_path: Path) -> Iterator[StartBeat]:
    with beat_starter(tmp_path, "--lease-ttl", f"{TTL_S}s") as start:
        yield start


def wait_for_leader(beats: list[BeatProcess], timeout: float = 15) -> BeatProcess:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [b for b in beats if "leader: acquired lease" in b.log()]
        if leaders:
            assert len(leaders) == 1, "two beats acquired the lease"
            return leaders[0]
        time.sleep(0.01)
    raise AssertionError("no beat became leader:\n" + "\n---\n".join(b.log() for b in beats))


def fire_instant(fire_id: str) -> datetime:
    return datetime.fromtimestamp(int(fire_id.rsplit("@", 1)[1]) / 1000, UTC)


def assert_unbroken(seen: Counter[str], n: int) -> None:
    """Every id once, and each entry's fires one second apart with no gap."""
    assert seen, "nothing was enqueued"
    assert max(seen.values()) == 1, [k for k, v in seen.items() if v > 1]
    for i in range(n):
        instants = sorted(fire_instant(k) for k in seen if k.startswith(f"e{i}@"))
        assert instants, f"e{i}: no fires"
        steps = {(b - a).total_seconds() for a, b in pairwise(instants)}
        assert steps <= {1.0}, f"e{i}: gap in {[t.isoformat() for t in instants]}"


class TcpProxy:
    """A loopback TCP proxy to Redis that can drop every connection and refuse new ones for a
    while: a broker outage for the processes behind it only (the test Redis is shared)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`restore`."""
        self._open.clear()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the test Redis, and the test database's URL through it."""
    rest = redis_url.split("://", 1)[1]
    hostport, db = rest.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    yield proxy, f"redis://127.0.0.1:{proxy.port}/{db}"
    proxy.close()
