"""The broker's shape (issue 13): small role protocols, one delivery path, small modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taskqueue.broker import (
    Broker,
    ChordParts,
    Connection,
    Consumer,
    LeaderLease,
    Producer,
    QueueInspection,
    QueueMaintenance,
    Revocations,
    TaskStates,
    WorkerHeartbeats,
)
from taskqueue.redis import RedisBroker
from taskqueue.sqlite import SQLiteBroker

ROOT = Path(__file__).resolve().parents[2]
SINGLE_MESSAGE = {"claim", "ack", "retry", "dead_letter"}


def _methods(protocol: type) -> set[str]:
    own = {n for n in vars(protocol) if not n.startswith("_")}
    return own | {n for n in getattr(protocol, "__annotations__", {}) if not n.startswith("_")}


def test_each_role_is_a_small_protocol_and_broker_is_their_union() -> None:
    roles = {
        Connection: {"url", "ping", "close"},
        Producer: {"enqueue_once", "enqueue_many", "enqueue_encoded", "promote_due"},
        Consumer: {
            "claim_many",
            "settle_many",
            "settle_and_claim",
            "extend",
            "release",
            "recover_expired",
            "now",
            "heartbeat",
            "forget_consumer",
        },
        QueueInspection: {"queue_stats", "dead_letters"},
        TaskStates: {"set_status", "get_status", "get_statuses", "wait_done", "forget"},
        LeaderLease: {"acquire_lease", "renew_lease", "release_lease", "lease_holder"},
        ChordParts: {"chord_part"},
        WorkerHeartbeats: {"publish_worker", "remove_worker", "workers"},
        Revocations: {"revoke", "terminations"},
        QueueMaintenance: {"requeue_dead", "purge_dead", "purge_ready"},
    }
    for role, methods in roles.items():
        assert _methods(role) == methods, role.__name__
    every = set().union(*roles.values())
    assert {n for n in dir(Broker) if not n.startswith("_")} | {"url"} == every


@pytest.mark.parametrize("broker", [RedisBroker, SQLiteBroker])
def test_the_single_message_paths_are_gone(broker: type) -> None:
    assert not SINGLE_MESSAGE & set(dir(broker))
    assert not SINGLE_MESSAGE & set(dir(Broker))


# Module sizes (the broker's among them): tests/test_layout.py.


def test_taskqueue_complexity_is_at_most_12() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [
            str(ruff),
            "check",
            "--no-cache",
            "--select",
            "C901",
            "--config",
            "lint.mccabe.max-complexity=12",
            "taskqueue",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
