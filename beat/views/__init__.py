"""What the operator looks at, as plain data: one answer shared by the ``beat`` commands and
the dashboard (:mod:`beat.web`). ``entries``: an entry's row, its next fires with DST notes and
the fires of the next hours; ``records``: queue, task and leader records as JSON data;
``broker``: reading them from a broker URL (the SQLite queue read-only, without SQLAlchemy)."""
