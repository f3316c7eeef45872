"""SQL timing: one implementation for both series and both databases.

8.2 prepends `PerfDatabaseMixin` to the backend's `Database` through `[database]
database_mixins`; 8.0 gets the same mixin through our `trytond.backend` entry points
(`tryton_ops.perf.backend`). The mixin instruments every connection handed out by
`get_connection`: psycopg connections get a timing cursor factory (set again on every checkout,
pooled connections are reused), the sqlite3 connection gets a timing `cursor` on the instance
(trytond's `put_connection` insists on the very same object, so no proxy).

Nothing from trytond is imported at module level: this module is resolved while
`trytond.backend` is being imported.
"""

from __future__ import annotations

import sqlite3
from time import perf_counter

from tryton_ops.perf.collector import current
from tryton_ops.perf.guard import errors
from tryton_ops.perf.shapes import as_text

_psycopg_cursor = None
_sqlite_cursor = None


def _report(collector, query, started: float, elapsed: float, rows: int) -> None:
    try:
        collector.on_sql(as_text(query), started, elapsed, rows)
    except Exception:
        errors.record("sql hook")


def psycopg_cursor_class():
    """trytond's LoggingCursor (keeps its DEBUG SQL log) with timing of execute/executemany."""
    global _psycopg_cursor
    if _psycopg_cursor is None:
        from trytond.backend.postgresql.database import LoggingCursor

        class TimedCursor(LoggingCursor):
            def execute(self, query, params=None, **kwargs):
                collector = current.get()
                # the pool's health check runs an empty query at every checkout
                if collector is None or query == "" or query == b"":
                    return super().execute(query, params, **kwargs)
                started = perf_counter()
                try:
                    return super().execute(query, params, **kwargs)
                finally:
                    elapsed = perf_counter() - started
                    _report(collector, query, started, elapsed, self.rowcount)

            def executemany(self, query, params_seq, **kwargs):
                collector = current.get()
                if collector is None:
                    return super().executemany(query, params_seq, **kwargs)
                started = perf_counter()
                try:
                    return super().executemany(query, params_seq, **kwargs)
                finally:
                    elapsed = perf_counter() - started
                    _report(collector, query, started, elapsed, self.rowcount)

        _psycopg_cursor = TimedCursor
    return _psycopg_cursor


def sqlite_cursor_class():
    global _sqlite_cursor
    if _sqlite_cursor is None:
        from trytond.backend.sqlite.database import SQLiteCursor

        class TimedSQLiteCursor(SQLiteCursor):
            def execute(self, sql, parameters=(), /):
                collector = current.get()
                if collector is None:
                    return super().execute(sql, parameters)
                started = perf_counter()
                try:
                    return super().execute(sql, parameters)
                finally:
                    elapsed = perf_counter() - started
                    _report(collector, sql, started, elapsed, self.rowcount)

            def executemany(self, sql, seq_of_parameters, /):
                collector = current.get()
                if collector is None:
                    return super().executemany(sql, seq_of_parameters)
                started = perf_counter()
                try:
                    return super().executemany(sql, seq_of_parameters)
                finally:
                    elapsed = perf_counter() - started
                    _report(collector, sql, started, elapsed, self.rowcount)

        _sqlite_cursor = TimedSQLiteCursor
    return _sqlite_cursor


def _wrap_sqlite(conn: sqlite3.Connection) -> None:
    if "cursor" in vars(conn):
        return  # already wrapped: the connection lives as long as the Database
    cursor_class = sqlite_cursor_class()

    def cursor(*args, row_factory=None):
        # trytond 8.2's cursor() takes row_factory; 8.0's takes nothing
        cur = sqlite3.Connection.cursor(conn, cursor_class)
        cur.row_factory = row_factory
        return cur

    conn.cursor = cursor


def instrument(conn) -> None:
    if isinstance(conn, sqlite3.Connection):
        _wrap_sqlite(conn)
    else:
        cursor_class = psycopg_cursor_class()
        if conn.cursor_factory is not cursor_class:
            conn.cursor_factory = cursor_class


class PerfDatabaseMixin:
    """Database mixin: instrument each connection and count it as one transaction."""

    def get_connection(self, *args, **kwargs):
        conn = super().get_connection(*args, **kwargs)
        try:
            instrument(conn)
            collector = current.get()
            if collector is not None:
                collector.on_connection()
        except Exception:
            errors.record("get_connection")
        return conn
