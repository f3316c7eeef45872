"""Access to a deployment's databases: which backend, connections, plain SQL, one error type.

The lifecycle commands read and write a few rows (module states, checksums, the admin password
hash, cron flags) and list or probe databases; loading trytond's pool for that would cost
seconds per command. Every part asks this module, never a URI, which backend is in use.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from tryton_ops.config import LoadedConfig
from tryton_ops.config.masking import mask_uri
from tryton_ops.config.trytond_conf import database_path
from tryton_ops.errors import OpsError


class DatabaseError(OpsError):
    """A database operation that failed; the message says why and what to do."""


def sqlite_file(config: LoadedConfig, name: str) -> Path:
    return database_path(config) / f"{name}.sqlite"


def server_connect(uri: str, dbname: str = "postgres"):
    import psycopg

    try:
        return psycopg.connect(uri, dbname=dbname, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())  # libpq's message spans lines
        raise DatabaseError(
            f"PostgreSQL server unreachable at {mask_uri(uri)}: {reason}; start it, or "
            "fix database.uri in tryton-ops.toml (or TRYTON_OPS_DATABASE__URI): host, port, "
            "user and password"
        ) from None


def backend(config: LoadedConfig) -> Literal["sqlite", "postgresql"]:
    """Which backend a deployment uses, from its settings (never from a rendered URI: that
    is `postgresqlops://` or `sqliteops://` on trytond 8.0 with the analyzer on)."""
    return config.settings.database.backend


def is_sqlite(config: LoadedConfig) -> bool:
    return backend(config) == "sqlite"


class Session:
    """One connection; `%s` placeholders on both backends; committed on success."""

    def __init__(self, conn: Any, sqlite: bool):
        self.conn = conn
        self.sqlite = sqlite

    def execute(self, query: str, params: tuple = ()) -> list[tuple]:
        if self.sqlite:
            query = query.replace("%s", "?")
        cursor = self.conn.execute(query, params)
        try:
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def scalar(self, query: str, params: tuple = ()) -> Any:
        rows = self.execute(query, params)
        return rows[0][0] if rows else None

    def table_exists(self, table: str) -> bool:
        if self.sqlite:
            query = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=%s"
        else:
            query = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename=%s"
        return bool(self.execute(query, (table,)))

    def columns(self, table: str) -> set[str]:
        if self.sqlite:
            return {row[1] for row in self.execute(f"PRAGMA table_info('{table}')")}
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s",
            (table,),
        )
        return {row[0] for row in rows}


@contextlib.contextmanager
def connect(config: LoadedConfig, name: str) -> Iterator[Session]:
    """A session on database `name`; DatabaseError when it does not exist."""
    if is_sqlite(config):
        path = sqlite_file(config, name)
        if not path.is_file():
            raise DatabaseError(f"database {name!r} does not exist ({path})")
        conn = sqlite3.connect(str(path), timeout=30)
        try:
            yield Session(conn, True)
            conn.commit()
        finally:
            conn.close()
        return
    import psycopg

    with server_connect(config.settings.database.uri) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not found:
        raise DatabaseError(f"database {name!r} does not exist")
    try:
        conn = psycopg.connect(config.settings.database.uri, dbname=name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to database {name!r}: {exc}") from None
    with conn:
        yield Session(conn, False)


@contextlib.contextmanager
def exported_snapshot(config: LoadedConfig, name: str) -> Iterator[str]:
    """A PostgreSQL snapshot of database `name` other sessions can adopt (pg_dump
    --snapshot), held for the block: they all see exactly what was committed when it was
    taken."""
    import psycopg

    try:
        conn = psycopg.connect(config.settings.database.uri, dbname=name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to database {name!r}: {exc}") from None
    with conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield conn.execute("SELECT pg_export_snapshot()").fetchone()[0]


def vacuum(config: LoadedConfig, name: str, tables: list[str]) -> None:
    """Rewrite the tables (SQLite: the whole file) so rows overwritten or deleted leave no
    copy in free space: after `db neutralize`, the old personal values are gone from disk."""
    if is_sqlite(config):
        conn = sqlite3.connect(str(sqlite_file(config, name)), timeout=30)
        try:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no old page left in the WAL
        finally:
            conn.close()
        return
    from psycopg import sql

    with server_connect(config.settings.database.uri, dbname=name) as conn:
        for table in tables:
            conn.execute(sql.SQL("VACUUM FULL {}").format(sql.Identifier(table)))


def activated_modules(session: Session) -> list[str]:
    rows = session.execute("SELECT name FROM ir_module WHERE state = 'activated' ORDER BY name")
    return [row[0] for row in rows]


def list_databases(config: LoadedConfig) -> list[str]:
    """Tryton databases reachable with the configured URI."""
    uri = config.settings.database.uri
    if is_sqlite(config):
        folder = database_path(config)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.sqlite") if _is_tryton_sqlite(p))
    with server_connect(uri) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname"
            )
        ]
    return [name for name in names if _is_tryton_pg(uri, name)]


def _is_tryton_sqlite(path: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='ir_module'"
            ).fetchone()
        return row is not None
    except sqlite3.Error:
        return False


def _is_tryton_pg(uri: str, name: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(uri, dbname=name, connect_timeout=10) as conn:
            return conn.execute("SELECT to_regclass('ir_module') IS NOT NULL").fetchone()[0]
    except psycopg.Error:
        return False


def database_exists(config: LoadedConfig, name: str) -> bool:
    """Whether `name` is a Tryton database; DatabaseError (not False) when PostgreSQL does not
    answer, so that a stopped server is never reported as a missing database."""
    return name_taken(config, name) and (
        _is_tryton_sqlite(sqlite_file(config, name))
        if is_sqlite(config)
        else _is_tryton_pg(config.settings.database.uri, name)
    )


def name_taken(config: LoadedConfig, name: str) -> bool:
    """Whether something, Tryton database or not, already holds the name `name`."""
    if is_sqlite(config):
        return sqlite_file(config, name).exists()
    with server_connect(config.settings.database.uri) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return found is not None
