"""Does the database the deployment serves exist, and does it answer a query?"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from tryton_ops.access.database import DatabaseError, connect, database_exists
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding


def check(ctx: Context) -> Iterator[Finding]:
    name = ctx.database
    try:
        database_exists(ctx.config, name)  # raises when the server does not answer
    except DatabaseError as exc:
        yield Finding(
            "database.unreachable",
            "error",
            f"database server unreachable for {name!r}",
            str(exc),
            "Start the database server or fix database.uri.",
        )
        return
    try:
        with connect(ctx.config, name) as session:  # DatabaseError: there is none
            session.scalar("SELECT count(*) FROM ir_module WHERE state = %s", ("activated",))
    except DatabaseError:
        yield Finding(
            "database.missing",
            "error",
            f"database {name!r} does not exist",
            "Every client call is refused: the server has no database to serve "
            f"({ctx.settings.database.backend}, configured as database.name).",
            f"Restore it (`tryton-ops db restore ARCHIVE -d {name}`), create it "
            f"(`tryton-ops db init -d {name}`), or set database.name to an existing one "
            "(`tryton-ops db list`).",
        )
    except (sqlite3.Error, _pg_error()) as exc:
        yield Finding(
            "database.unanswered",
            "error",
            f"database {name!r} does not answer a query",
            "It exists but reading its modules fails (damaged, or not a Tryton database): "
            + " ".join(str(exc).split()),
            "Check the database server's log; restore from the last backup if it is damaged.",
        )


def _pg_error() -> type[Exception]:
    import psycopg

    return psycopg.Error
