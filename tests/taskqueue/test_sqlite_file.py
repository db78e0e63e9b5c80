"""Creating SQLite files without touching live ones (issue 11, item 1).

POSIX drops every lock a process holds on a file when it closes *any* descriptor of it; a
process that opened and closed the queue file while holding SQLite connections to it lost
their locks, and another process then deleted the live -wal/-shm (commits lost, corruption).
Real files and real processes: the other process is a fresh interpreter using sqlite3.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from beat.state import EntryState, StateStore
from taskqueue.message import Message
from taskqueue.sqlite import SQLiteBroker
from taskqueue.sqlite_file import create_database_file

LEASE = timedelta(seconds=30)
NO_WAIT = timedelta(0)

# Another process opens the file, touches it, and closes its connection. Closing the last
# connection of a WAL database checkpoints and deletes -wal and -shm: SQLite knows it is the
# last one when it gets the exclusive lock, which every other live connection must prevent.
OTHER_PROCESS = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
conn.close()
"""


def deleted_fds(path: Path) -> list[str]:
    """This process's descriptors of ``path`` (or its -wal/-shm) whose file was deleted."""
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith(str(path)) and target.endswith("(deleted)"):
            out.append(target)
    return out


def touch_from_another_process(path: Path) -> None:
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, str(path)], check=True, timeout=30)


def test_building_another_broker_keeps_the_locks_of_the_first(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    first = SQLiteBroker(f"sqlite:///{path}")
    try:
        assert first.enqueue_once(Message(id="before", task="t"))  # a pooled connection, locked
        # The worker builds a second broker (lease renewal), beat its leader lease...
        second = SQLiteBroker(f"sqlite:///{path}")
        second.close()
        # ...so the first's pooled connection must still hold its lock when another process
        # closes its own connection: otherwise that process deletes -wal and -shm under us.
        touch_from_another_process(path)
        assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        assert deleted_fds(path) == []
        assert first.enqueue_once(Message(id="after", task="t"))
        # What the first broker wrote after that is visible to every other process.
        third = SQLiteBroker(f"sqlite:///{path}")
        ids = {d.message_id for d in third.claim_many(["default"], "c", LEASE, NO_WAIT, 10)}
        third.close()
        assert ids == {"before", "after"}
    finally:
        first.close()


def test_opening_a_state_store_keeps_the_locks_of_an_open_one(tmp_path: Path) -> None:
    path = tmp_path / "schedule.db"
    first = StateStore(str(path))
    try:
        assert first.load() == {}  # a pooled connection, locked
        StateStore(str(path)).close()
        touch_from_another_process(path)
        assert Path(f"{path}-wal").exists()
        assert deleted_fds(path) == []
    finally:
        first.close()


def _create(path: str) -> bool:
    return create_database_file(Path(path))


def test_many_processes_creating_one_file_at_once_make_exactly_one(tmp_path: Path) -> None:
    import multiprocessing

    for round_ in range(5):
        path = tmp_path / f"new-{round_}.db"
        with multiprocessing.get_context("spawn").Pool(6) as pool:
            created = pool.map(_create, [str(path)] * 12)
        assert sum(created) == 1  # link() publishes one copy; the others are discarded
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL in the header already
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"new-{i}.db" for i in range(5)]


def test_an_existing_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "mine.db"
    path.write_bytes(b"")
    path.chmod(0o640)
    assert not create_database_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_bytes() == b""


def test_a_missing_directory_names_the_file_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "queue.db"
    with pytest.raises(FileNotFoundError) as caught:
        create_database_file(path)
    assert caught.value.filename == str(path)


def test_many_threads_opening_one_new_state_store_all_succeed(tmp_path: Path) -> None:
    """Beats starting together on one new state file (the race of the O_EXCL create)."""
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    for round_ in range(10):
        path = tmp_path / f"state-{round_}.db"

        def open_and_save(i: int, path: Path = path) -> None:
            store = StateStore(str(path))
            store.upsert_new([EntryState(f"e{i}", None, now, "h")])
            store.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(open_and_save, range(8)))
        store = StateStore(str(path))
        assert set(store.load()) == {f"e{i}" for i in range(8)}
        store.close()


def test_a_forked_child_uses_its_own_connection(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    broker = SQLiteBroker(f"sqlite:///{path}")
    try:
        assert broker.enqueue_once(Message(id="parent", task="t"))
        pid = os.fork()
        if pid == 0:  # the child: exit without running pytest's teardown
            code = 1
            try:
                code = 0 if broker.enqueue_once(Message(id="child", task="t")) else 2
                broker.close()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The child closing its engine did not close or unlock the parent's connections.
        touch_from_another_process(path)
        assert deleted_fds(path) == []
        assert Path(f"{path}-wal").exists()
        ids = {d.message_id for d in broker.claim_many(["default"], "c", LEASE, NO_WAIT, 10)}
        assert ids == {"parent", "child"}
    finally:
        broker.close()
