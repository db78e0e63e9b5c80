"""A real failover under a running beat and worker: a primary, a replica and three sentinels
(private ports), everything on a ``redis+sentinel://`` URL; the primary is killed -9, the
sentinels promote the replica, and both processes carry on on the new primary.

What is counted: each fire's task id as the task itself wrote it to a file.

Without ``wait_replicas`` replication is asynchronous: a write the primary acknowledged in the
last moment before it died may not have reached the replica. A lost enqueue loses that fire
(beat's state says it went, so it is never re-sent); a lost claim or settle (ack) runs its
task a second time (the message is ready again, or its lease lapses on the new primary). On
loopback replication lags well under a millisecond, so at most one fire falls into that window:
at most one repeated and at most one of the sent lost.

With ``wait_replicas=1`` every enqueue, claim and settle waits for the replica's acknowledgement
on the connection that wrote it (a call cut off before it is an outage: retried, its claims not
run), so none may repeat and none of the sent may be lost. Settlements the outage interrupted
reach the new primary before anything of the worker's recovers their lapsed leases (the
failover can take longer than the 3 s lease).

Either way, fires that fell due while no primary was known are sent after the failover
(catch_up: all).
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.faults import procs
from tests.faults.procs import Proc, StartProc, wait_until
from tests.ha import sentinels
from tests.ha.sentinels import Deployment

spawn = procs.spawn
sentinel_cluster = sentinels.sentinel_cluster

HA_DIR = Path(__file__).resolve().parent
START = datetime(2026, 1, 1, tzinfo=UTC)
AFTER_S = 10.0
# Fires that asynchronous replication may lose, or run twice, at the failover without
# wait_replicas (see the module's text).
MAX_LOST = 1
MAX_REPEATED = 1


def _ids(path: Path) -> Counter[str]:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def _instant(fire_id: str) -> datetime:
    return datetime.fromtimestamp(int(fire_id.rsplit("@", 1)[1]) / 1000, UTC)


def _assert_no_crash(proc: Proc, what: str) -> None:
    log = proc.log()
    assert "Traceback" not in log, f"{what} logged a traceback:\n{log[-4000:]}"
    errors = proc.lines("ERROR")
    assert len(errors) <= 2, f"{what}: {len(errors)} ERROR lines:\n" + "\n".join(errors)


@pytest.mark.slow
@pytest.mark.parametrize("query", ["", "?wait_replicas=1&wait_timeout_ms=100"])
def test_beat_and_worker_ride_out_a_sentinel_failover(
    tmp_path: Path, sentinel_cluster: Deployment, spawn: StartProc, query: str
) -> None:
    url = sentinel_cluster.url(query=query)
    ran = tmp_path / "ran"
    config = tmp_path / "schedules.yaml"
    config.write_text(
        "entries:\n"
        "  tick:\n"
        "    task: ha.record\n"
        "    every: 1s\n"
        f"    start: {START.isoformat()}\n"
        "    catch_up: all\n"
        f"    args: [{ran}]\n"
    )
    path = os.pathsep.join([str(HA_DIR), str(procs.REPO), os.environ.get("PYTHONPATH", "")])
    env = procs.proc_env(PYTHONPATH=path)
    worker = spawn("worker", "--broker", url, "-A", "sentinel_tasks", "-c", "2", "--lease", "3s",
                   "--shutdown-timeout", "5s", env=env)  # fmt: skip
    beat = spawn("beat", "-s", str(tmp_path / "schedule.db"), "--config", str(config),
                 "--broker", url, "--lookahead", "0", env=env)  # fmt: skip
    worker.wait_for_log(" ready: ")
    beat.wait_for_log("beat started")
    wait_until(lambda: len(_ids(ran)) >= 3, 15, "the first fires to run")

    sentinel_cluster.primary.kill()
    killed_at = datetime.now(UTC)
    sentinel_cluster.wait_for_failover()
    promoted_at = datetime.now(UTC)
    time.sleep(AFTER_S)
    assert beat.stop() == 0, beat.log()
    stopped_at = datetime.now(UTC)
    # The worker drains what was sent before beat stopped.
    last_sent = max(_instant(i) for i in _ids(ran))
    wait_until(lambda: len(_ids(ran)) >= 1 and max(map(_instant, _ids(ran))) >= last_sent, 10,
               "the worker to drain")  # fmt: skip
    time.sleep(2)
    assert worker.stop() == 0, worker.log()

    ran_ids = _ids(ran)
    repeated = [i for i, n in ran_ids.items() if n > 1]
    assert max(ran_ids.values()) <= 2, ran_ids
    assert len(repeated) <= (0 if query else MAX_REPEATED), f"ran twice: {repeated}"
    # What beat sent, from its log: each fire once, and nothing ran that it did not send.
    sent = Counter(re.findall(r" fire_id=(\S+)", beat.log()))
    assert max(sent.values()) == 1, [i for i, n in sent.items() if n > 1]
    assert set(ran_ids) <= set(sent)
    lost_sent = sorted(set(sent) - set(ran_ids))
    assert len(lost_sent) <= (0 if query else MAX_LOST), f"sent but never run: {lost_sent}"
    instants = sorted(map(_instant, ran_ids))
    assert instants[-1] > promoted_at + timedelta(seconds=AFTER_S / 2), "nothing ran after it"
    expected = {instants[0] + timedelta(seconds=k)
                for k in range(int((instants[-1] - instants[0]).total_seconds()) + 1)}  # fmt: skip
    lost = sorted(expected - set(instants))
    print(
        f"failover: killed {killed_at:%T.%f}, promoted after "
        f"{(promoted_at - killed_at).total_seconds():.1f}s; ran {len(ran_ids)} fires "
        f"{instants[0]:%T}..{instants[-1]:%T} (beat stopped {stopped_at:%T}); "
        f"{len(sent)} sent; lost {[f'{t:%T}' for t in lost]}"
    )
    assert len(lost) <= MAX_LOST, f"lost {lost}:\n{beat.log()[-3000:]}"
    # The outage is logged (once), never a crash.
    _assert_no_crash(beat, "beat")
    _assert_no_crash(worker, "worker")
    if query:
        # The promoted replica has no replica of its own: each enqueue's WAIT falls short,
        # which beat says once (the messages are in the new primary all the same).
        short = [line for line in beat.lines("WARNING") if "replica(s) within 100 ms" in line]
        assert len(short) == 1, beat.log()[-3000:]
        # The worker's claims and settles wait too: the same, in its log.
        short = [line for line in worker.lines("WARNING") if "replica(s) within 100 ms" in line]
        assert len(short) >= 1, worker.log()[-3000:]
