"""Manage entries of the SQL schedule source from an application.

    from beat.time import zones
    from beat.entries_api import EntryStore

    store = EntryStore("postgresql+psycopg://app@db/app", zone=zones.get("Europe/Berlin"))
    store.add("nightly", {"task": "app.nightly", "cron": "30 2 * * *"})
    store.update("nightly", {"queue": "reports"})      # partial: other keys kept
    store.disable("nightly")

Importing beat makes zoneinfo read the ``tzdata`` package for the whole process
(:mod:`beat.time.zones`). Every write is validated exactly like an entry of ``schedules.yaml`` (same
:class:`~beat.errors.ConfigError` problems and messages) before anything is stored. A running
beat picks the change up by itself within two seconds: no notification is needed.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from beat.config.entry import validate_entry
from beat.config.keys import ENTRY_KEYS, SCHEDULE_KINDS
from beat.errors import ConfigError, Problem, SourceError
from beat.sources.sql.rows import mapping_to_row, row_to_mapping
from beat.sources.sql.schema import ensure_schema, entries_table, make_engine
from beat.time import zones
from taskqueue.config_text import did_you_mean
from taskqueue.urls import redact_url

UTC = zones.get("UTC")

# Setting one of these in update() replaces whichever the entry had; `start` belongs to `every`.
SCHEDULE_KEYS = SCHEDULE_KINDS


class EntryExistsError(SourceError):
    """add() of a name the source already holds."""

    def __init__(self, source: str, name: str) -> None:
        super().__init__(f"{source}: entry {name!r} already exists (use update to change it)")
        self.name = name


class EntryNotFoundError(SourceError, LookupError):
    """update/remove/enable/disable/get of a name the source does not hold."""

    def __init__(self, source: str, name: str, known: list[str]) -> None:
        super().__init__(f"{source}: no entry named {name!r}{did_you_mean(name, known)}")
        self.name = name


class SourceUnavailableError(SourceError):
    """The database cannot be reached or used (a runtime failure, not bad input)."""


def merge_update(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The entry after a partial update: keys in ``changes`` replace the current ones, a key
    set to None is removed, a new schedule kind replaces the old one (and ``start`` goes when
    the change is to or from ``every``: an interval's anchor, any other kind's lower bound).
    Nested values (``options``, ``kwargs``) are replaced whole."""
    merged = dict(current)
    new_kinds = [k for k in SCHEDULE_KEYS if changes.get(k) is not None]
    if new_kinds:
        for kind in SCHEDULE_KEYS:
            merged.pop(kind, None)
        if ("every" in new_kinds) != ("every" in current):
            merged.pop("start", None)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class EntryStore:
    """Create, change and list the entries of a SQL schedule source.

    ``zone`` and ``defaults`` must match the ``timezone`` and ``defaults`` of the
    ``schedules.yaml`` that uses this source, so writes are checked as beat will read them.
    """

    def __init__(
        self, url: str, zone: ZoneInfo = UTC, defaults: Mapping[str, Any] | None = None
    ) -> None:
        self.url = url
        self.name = redact_url(url)
        self.zone = zone
        self.defaults: Mapping[str, Any] = dict(defaults or {})
        # BEGIN IMMEDIATE on SQLite: read-modify-write waits for other writers.
        self.engine = make_engine(url, immediate=True)
        self._ready = False

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> EntryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes -----------------------------------------------------------------------------
    def add(self, name: str, mapping: Mapping[str, Any]) -> None:
        """Store a new entry; EntryExistsError if the name is taken."""
        row = self._checked_row(name, mapping)
        with self._tx() as conn:
            if self._exists(conn, name):
                raise EntryExistsError(self.name, name)
            try:
                conn.execute(sa.insert(entries_table).values(row))
            except sa.exc.IntegrityError as e:  # added by another writer since the check
                raise EntryExistsError(self.name, name) from e

    def update(self, name: str, mapping: Mapping[str, Any], *, replace: bool = False) -> None:
        """Change an entry: a partial merge (see :func:`merge_update`), or with ``replace``
        the whole entry becomes ``mapping``."""
        with self._tx() as conn:
            current = self._current(conn, name, lock=True)
            merged = dict(mapping) if replace else merge_update(current, mapping)
            row = self._checked_row(name, merged)
            conn.execute(sa.update(entries_table).where(entries_table.c.name == name).values(row))

    def remove(self, name: str) -> None:
        with self._tx() as conn:
            done = conn.execute(sa.delete(entries_table).where(entries_table.c.name == name))
            if done.rowcount == 0:
                raise self._not_found(conn, name)

    def enable(self, name: str) -> None:
        self._set_enabled(name, True)

    def disable(self, name: str) -> None:
        self._set_enabled(name, False)

    def _set_enabled(self, name: str, enabled: bool) -> None:
        with self._tx() as conn:
            done = conn.execute(
                sa.update(entries_table).where(entries_table.c.name == name).values(enabled=enabled)
            )
            if done.rowcount == 0:
                raise self._not_found(conn, name)

    # --- reads ------------------------------------------------------------------------------
    def get(self, name: str) -> dict[str, Any]:
        """The entry's YAML form (no defaults applied)."""
        with self._tx() as conn:
            return self._current(conn, name, lock=False)

    def list(self) -> builtins.list[dict[str, Any]]:
        """Every entry's YAML form with its ``name``, sorted by name."""
        out: builtins.list[dict[str, Any]] = []
        for name, mapping in self._all().items():
            out.append({"name": name, **mapping})
        return out

    def names(self) -> builtins.list[str]:
        with self._tx() as conn:
            return sorted(conn.execute(sa.select(entries_table.c.name)).scalars())

    # --- YAML -------------------------------------------------------------------------------
    def import_yaml(self, source: str | Path, *, replace: bool = False) -> int:
        """Store the ``entries:`` of a schedules.yaml (a path, or the text itself); return how
        many. All or nothing: every entry is validated first (problems carry YAML line
        numbers); names already stored are an error unless ``replace``."""
        from beat.sources.sql.yaml_io import read_entries_yaml

        mappings = read_entries_yaml(source, zone=self.zone, defaults=self.defaults)
        rows = [self._checked_row(name, m) for name, m in mappings.items()]
        with self._tx() as conn:
            existing = set(conn.execute(sa.select(entries_table.c.name)).scalars())
            clash = [name for name in mappings if name in existing]
            if clash and not replace:
                raise ConfigError(
                    [
                        Problem(self.name, None, f"entries.{n}", "already exists (use --replace)")
                        for n in clash
                    ]
                )
            if clash:
                conn.execute(sa.delete(entries_table).where(entries_table.c.name.in_(clash)))
            if rows:
                conn.execute(sa.insert(entries_table), rows)
        return len(rows)

    def export_yaml(self) -> str:
        """Every entry in schedules.yaml format (``timezone``, ``defaults``, ``entries``)."""
        from beat.sources.sql.yaml_io import dump_entries_yaml

        return dump_entries_yaml(self._all(), zone=self.zone, defaults=self.defaults)

    # --- helpers ----------------------------------------------------------------------------
    def _checked_row(self, name: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
        validate_entry(
            name, mapping, zone=self.zone, defaults=self.defaults, source=self.name, file=self.name
        )
        row, problems = mapping_to_row(name, mapping, file=self.name)
        if problems:
            raise ConfigError(problems)
        return row

    def _tx(self) -> _WriteTx:
        if not self._ready:
            try:
                ensure_schema(self.engine)
            except sa.exc.SQLAlchemyError as e:
                raise SourceUnavailableError(f"{self.name}: cannot open: {e}") from e
            self._ready = True
        return _WriteTx(self)

    def _exists(self, conn: Connection, name: str) -> bool:
        query = sa.select(entries_table.c.name).where(entries_table.c.name == name)
        return conn.execute(query).first() is not None

    def _current(self, conn: Connection, name: str, *, lock: bool) -> dict[str, Any]:
        query = sa.select(*(entries_table.c[k] for k in ENTRY_KEYS)).where(
            entries_table.c.name == name
        )
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise self._not_found(conn, name)
        mapping, problems = row_to_mapping(name, row._mapping, file=self.name)
        if problems:
            raise ConfigError(problems)
        return mapping

    def _all(self) -> dict[str, dict[str, Any]]:
        query = sa.select(entries_table.c.name, *(entries_table.c[k] for k in ENTRY_KEYS))
        with self._tx() as conn:
            rows = conn.execute(query.order_by(entries_table.c.name)).all()
        out: dict[str, dict[str, Any]] = {}
        problems: builtins.list[Problem] = []
        for row in rows:
            mapping, bad = row_to_mapping(row.name, row._mapping, file=self.name)
            problems.extend(bad)
            out[row.name] = mapping
        if problems:
            raise ConfigError(problems)
        return out

    def _not_found(self, conn: Connection, name: str) -> EntryNotFoundError:
        known = list(conn.execute(sa.select(entries_table.c.name)).scalars())
        return EntryNotFoundError(self.name, name, known)


class _WriteTx:
    """A transaction that commits on success, rolls back on error, and turns database
    failures into :class:`SourceUnavailableError`."""

    def __init__(self, store: EntryStore) -> None:
        self.store = store
        self.conn: Connection | None = None

    def __enter__(self) -> Connection:
        try:
            self.conn = self.store.engine.connect()
            self.conn.begin()
        except sa.exc.SQLAlchemyError as e:
            raise SourceUnavailableError(f"{self.store.name}: cannot connect: {e}") from e
        return self.conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        assert self.conn is not None
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        except sa.exc.SQLAlchemyError as e:
            raise SourceUnavailableError(f"{self.store.name}: write failed: {e}") from e
        finally:
            self.conn.close()
        if isinstance(exc, sa.exc.IntegrityError):
            raise SourceError(f"{self.store.name}: rejected by the database: {exc.orig}") from exc
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise SourceUnavailableError(f"{self.store.name}: {exc}") from exc
