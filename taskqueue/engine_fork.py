"""A forked child never uses (nor closes) a database connection it inherited.

SQLite forbids carrying a connection across ``fork()``, and closing the child's copy can still
act on the shared files; a PostgreSQL connection is a socket the parent is also using. The
recipe from SQLAlchemy's pooling documentation: each pooled connection remembers the process
that opened it; a checkout in another process drops the inherited one *without closing it*
(it stays the parent's) and opens a fresh one.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["discard_inherited_connections"]

_PID = "beat_pid"


def discard_inherited_connections(engine: Any) -> None:
    """Make ``engine`` (a SQLAlchemy Engine) reconnect in a forked child instead of reusing
    the parent's connections."""
    import sqlalchemy as sa

    def on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_PID] = os.getpid()

    def on_checkout(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get(_PID) != os.getpid():
            # Not closed: it belongs to the parent. The pool then connects anew for us.
            record.dbapi_connection = proxy.dbapi_connection = None
            raise sa.exc.DisconnectionError("connection inherited from the parent process")

    sa.event.listen(engine, "connect", on_connect)
    sa.event.listen(engine, "checkout", on_checkout)
