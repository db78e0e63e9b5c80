"""Worker per-task budget: where the CPU goes per no-op task, beat's worker and Celery's.

    python bench/profile_worker.py [-n 20000] [--pool prefork] [--pool threads]
        [--celery-python /path/to/python-with-celery] [--py-spy /path/to/py-spy]

Starts its own ``redis-server`` on a free port (nothing shared is touched), then for each pool
(and Celery prefork ``-c 2`` if a Python with celery is given) enqueues N no-op messages,
starts the worker and drains them (as ``bench_worker.py`` does), and prints per task:

- wall time (1 / rate) and the machine's load average;
- CPU µs of the worker parent, of its pool children, and of redis-server (from /proc, so a
  loaded machine's waiting is not counted);
- Redis commands per task (INFO commandstats: calls and µs inside Redis per command).

With ``--py-spy`` the worker parent is sampled during the drain and the top functions printed
(collapsed stacks written to ``$TMPDIR/profile-<pool>.txt``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
os.environ.setdefault("BENCH_ROLE", "driver")
sys.path[:0] = [str(BENCH_DIR), str(REPO)]

from bench_worker import _env, send_celery_noops  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (its reaped children not included)."""
    user, system = _user_sys_s(pid)
    return user + system


def _user_sys_s(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid``: system time is the syscalls' share."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _tree_cpu(pid: int) -> tuple[float, float]:
    """(CPU s of ``pid`` itself, CPU s of its live descendants)."""
    own = _cpu_s(pid)
    rest, stack = 0.0, _children(pid)
    while stack:
        child = stack.pop()
        try:
            rest += _cpu_s(child)
        except OSError:
            continue
        stack += _children(child)
    return own, rest


def _commandstats(client: object) -> dict[str, tuple[int, int]]:
    info = client.info("commandstats")  # type: ignore[attr-defined]
    return {k.removeprefix("cmdstat_"): (v["calls"], v["usec"]) for k, v in info.items()}


class Measure:
    """CPU and Redis calls over one drain."""

    def __init__(self, redis_pid: int, client: object) -> None:
        self.redis_pid = redis_pid
        self.client = client

    def drain(
        self,
        proc: subprocess.Popen[bytes],
        remaining: Callable[[], int],
        total: int,
        on_start: Callable[[], object] | None = None,
    ) -> dict[str, object]:
        deadline = time.monotonic() + 600
        while remaining() >= total:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("worker did not start taking messages")
            time.sleep(0.002)
        if on_start is not None:
            on_start()
        t0, left0 = time.monotonic(), remaining()
        parent0, kids0 = _tree_cpu(proc.pid)
        sys0 = _user_sys_s(proc.pid)[1]
        redis0 = _cpu_s(self.redis_pid)
        stats0 = _commandstats(self.client)
        load0 = os.getloadavg()[0]
        while remaining() > 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker stopped with {remaining()} left")
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        parent1, kids1 = _tree_cpu(proc.pid)
        sys1 = _user_sys_s(proc.pid)[1]
        redis1 = _cpu_s(self.redis_pid)
        stats1 = _commandstats(self.client)
        calls = {
            k: (v[0] - stats0.get(k, (0, 0))[0], v[1] - stats0.get(k, (0, 0))[1])
            for k, v in stats1.items()
        }
        return {
            "n": left0,
            "rate": left0 / elapsed,
            "load": (load0 + os.getloadavg()[0]) / 2,
            "parent_us": (parent1 - parent0) * 1e6 / left0,
            "parent_sys_us": (sys1 - sys0) * 1e6 / left0,
            "children_us": (kids1 - kids0) * 1e6 / left0,
            "redis_us": (redis1 - redis0) * 1e6 / left0,
            "calls": {k: v for k, v in calls.items() if v[0] > 0},
        }


def _beat_worker(
    url: str,
    pool: str,
    n: int,
    m: Measure,
    spy: str | None,
    strace: bool = False,
    repo: Path | None = None,
    cprofile: Path | None = None,
) -> dict[str, object]:
    """Drain N no-op tasks with beat's worker; ``repo``: run that checkout's worker code."""
    from taskqueue.message import Message
    from taskqueue.urls import open_broker

    m.client.flushdb()  # type: ignore[attr-defined]
    broker = open_broker(url)
    for start in range(0, n, 1000):
        broker.enqueue_many(
            [Message(id=uuid.uuid4().hex, task="bench.noop") for _ in range(min(1000, n - start))]
        )

    def remaining() -> int:
        stats = {q.name: q for q in broker.queue_stats()}["default"]
        return stats.ready + stats.in_flight

    code = "from worker.cli import main; main()"
    if cprofile is not None:
        # The parent's main thread under cProfile (stats written when the worker stops).
        code = "import cProfile; from worker.cli import main; "
        code += f"cProfile.run('main()', {str(cprofile)!r})"
    command = [sys.executable, "-c", code, "--broker", url]
    if strace:
        # Syscall counts (per process) only: strace slows everything it traces.
        out = Path(tempfile.gettempdir()) / f"strace-{pool}"
        command = ["strace", "-f", "-ff", "-qq", "-o", str(out), *command]
    command += ["-A", "bench_worker", "-c", "2", "-P", pool, "-l", "warning"]
    env, cwd = _env(url, "worker"), BENCH_DIR
    if repo is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(repo / "bench"), str(repo)])
        cwd = repo / "bench"
    proc = subprocess.Popen(command, env=env, cwd=cwd)
    samplers: list[subprocess.Popen[bytes]] = []

    def sample() -> None:
        """Collapsed stacks of the parent's GIL-holding Python during the drain."""
        if spy:
            out = Path(tempfile.gettempdir()) / f"profile-{pool}.txt"
            record = [spy, "record", "-p", str(proc.pid), "-o", str(out), "-f", "raw"]
            record += ["-r", "250", "--gil", "-d", "8", "--nonblocking"]
            samplers.append(
                subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )

    try:
        return m.drain(proc, remaining, n, sample)
    finally:
        for sampler in samplers:
            sampler.wait(30)
        proc.terminate()
        proc.wait(60)
        broker.close()


def _celery(url: str, python: str, n: int, m: Measure) -> dict[str, object]:
    client = m.client
    client.flushdb()  # type: ignore[attr-defined]
    remaining = send_celery_noops(client, url, python, n)

    command = [python, "-m", "celery", "-A", "bench_worker:celery_app", "worker", "-c", "2"]
    command += ["-P", "prefork", "-l", "warning", "--without-gossip", "--without-mingle"]
    command += ["--without-heartbeat"]
    proc = subprocess.Popen(command, env=_env(url, "celery"), cwd=BENCH_DIR)
    try:
        return m.drain(proc, remaining, n)
    finally:
        proc.terminate()
        proc.wait(60)


def _print(label: str, r: dict[str, object], celery_rate: float | None) -> None:
    rate = float(r["rate"])  # type: ignore[arg-type]
    ratio = f"{rate / celery_rate:.2f}x" if celery_rate else "n/a"
    print(
        f"{label:<24}{rate:>8.0f}/s {ratio:>6}  wall {1e6 / rate:>5.0f}µs  "
        f"parent {r['parent_us']:>5.0f}µs (sys {r['parent_sys_us']:>4.0f})  "
        f"children {r['children_us']:>5.0f}µs  "
        f"redis {r['redis_us']:>5.0f}µs  load {r['load']:.1f}"
    )
    n = int(r["n"])  # type: ignore[call-overload]
    calls: dict[str, tuple[int, int]] = r["calls"]  # type: ignore[assignment]
    busiest = sorted(calls.items(), key=lambda kv: -kv[1][1])[:6]
    print(
        "    redis per task: "
        + ", ".join(f"{k} {c / n:.2f} calls {u / n:.0f}µs" for k, (c, u) in busiest)
    )


def _with(path: Path | None, pool: str) -> Path | None:
    return None if path is None else path.with_name(f"{path.name}-{pool}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20_000)
    parser.add_argument("--pool", action="append", choices=["prefork", "threads"])
    parser.add_argument("--celery-python", default=os.environ.get("CELERY_PYTHON"))
    parser.add_argument("--py-spy", default=None, help="sample the worker parent with py-spy")
    parser.add_argument("--strace", action="store_true", help="count syscalls (slow)")
    parser.add_argument(
        "--cprofile", type=Path, help="cProfile the worker parent: stats to FILE-<pool>"
    )
    parser.add_argument(
        "--baseline", type=Path, help="also run the worker of this checkout (before/after)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternate the runs this often")
    args = parser.parse_args()
    import redis

    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="profile-worker-")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        m = Measure(server.pid, client)
        for _ in range(args.rounds):
            celery = None
            if args.celery_python:
                celery = _celery(url, args.celery_python, args.n, m)
                _print("celery 5.7 prefork -c 2", celery, None)
            rate = float(celery["rate"]) if celery else None  # type: ignore[arg-type]
            for pool in args.pool or ["prefork", "threads"]:
                if args.baseline is not None:
                    before = _beat_worker(url, pool, args.n, m, None, False, args.baseline)
                    _print(f"baseline {pool} -c 2", before, rate)
                _print(
                    f"beat {pool} -c 2",
                    _beat_worker(
                        url,
                        pool,
                        args.n,
                        m,
                        args.py_spy,
                        args.strace,
                        cprofile=_with(args.cprofile, pool),
                    ),
                    rate,
                )
    finally:
        client.close()
        server.terminate()
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
