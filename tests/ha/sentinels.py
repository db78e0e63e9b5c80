"""A private Redis Sentinel deployment for the failover tests: a primary, a replica and three
sentinels on free ports, their configs and data in the test's tmp directory.

Imported by the tests that need it (``sentinel_cluster = sentinels.sentinel_cluster``), like
:mod:`tests.faults.procs`, whose private ``redis-server`` it builds on.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.faults.procs import RedisServer, free_port, wait_until

SERVICE = "mymaster"
# Short, so a failover takes a few seconds: the primary is judged down after 1 s.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


@dataclass
class Sentinel:
    workdir: Path
    primary_port: int
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "sentinel.conf"  # the sentinel rewrites it: its own file
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
        )
        log = (self.workdir / "sentinel.log").open("ab")
        self.proc = subprocess.Popen(
            ["redis-server", str(conf), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )

    def client(self) -> Any:
        return redis.Redis(port=self.port, socket_timeout=1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Deployment:
    primary: RedisServer
    replica: RedisServer
    sentinels: list[Sentinel]

    def url(self, db: int = 0, query: str = "") -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}{query}"

    def primary_port(self) -> int:
        """The port the sentinels name as the primary now."""
        _host, port = self.sentinels[0].client().sentinel_get_master_addr_by_name(SERVICE)
        return int(port)

    def wait_for_failover(self, timeout: float = 30) -> None:
        wait_until(
            lambda: self.primary_port() == self.replica.port, timeout, "the replica's promotion"
        )


def _ready(deployment: Deployment) -> bool:
    """The replica has synced and every sentinel knows the others and the replica, so a
    failover can be voted."""
    try:
        return _synced(deployment)
    except redis.RedisError:  # a sentinel not listening yet
        return False


def _synced(deployment: Deployment) -> bool:
    info = redis.Redis(port=deployment.replica.port).info("replication")
    if info.get("master_link_status") != "up":
        return False
    for s in deployment.sentinels:
        state = s.client().sentinel_master(SERVICE)
        if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
            return False
    return True


@pytest.fixture
def sentinel_cluster(tmp_path: Path) -> Iterator[Deployment]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not on PATH")
    primary = RedisServer(tmp_path / "primary", persistent=False)
    primary.start()
    replica = RedisServer(
        tmp_path / "replica",
        persistent=False,
        extra=("--replicaof", "127.0.0.1", str(primary.port)),
    )
    replica.start()
    sentinels = [Sentinel(tmp_path / f"sentinel-{i}", primary.port) for i in range(3)]
    deployment = Deployment(primary, replica, sentinels)
    try:
        for s in sentinels:
            s.start()
        wait_until(lambda: _ready(deployment), 30, "the sentinels and the replica", interval=0.2)
        yield deployment
    finally:
        for s in sentinels:
            s.kill()
        replica.kill()
        primary.kill()
