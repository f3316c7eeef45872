"""Plain SQL on a Tryton database of either backend, without loading trytond.

The lifecycle commands read and write a few rows (module states, checksums, the admin password
hash, cron flags); loading trytond's pool for that would cost seconds per command.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from tryton_ops.admin.database import DatabaseError, _pg_connect, sqlite_file
from tryton_ops.config import LoadedConfig


def is_sqlite(config: LoadedConfig) -> bool:
    return urlsplit(config.settings.database.uri).scheme == "sqlite"


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

    with _pg_connect(config.settings.database.uri) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not found:
        raise DatabaseError(f"database {name!r} does not exist")
    try:
        conn = psycopg.connect(config.settings.database.uri, dbname=name, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to database {name!r}: {exc}") from None
    with conn:
        yield Session(conn, False)


def activated_modules(session: Session) -> list[str]:
    rows = session.execute("SELECT name FROM ir_module WHERE state = 'activated' ORDER BY name")
    return [row[0] for row in rows]
