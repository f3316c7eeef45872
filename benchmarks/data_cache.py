"""A benchmark's database kept as a pg_dump between runs (`--data-cache FILE`): loading the
workload takes minutes (`demo load --scale 10`: about 8 on two cores), a restore seconds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from tryton_ops.testing.servers import PostgresServer


def _tool(server: PostgresServer, name: str) -> str:
    """pg_dump/pg_restore of the server's own version (its bindir may be a symlink farm)."""
    return str(Path(server.bindir / "postgres").resolve().parent / name)


def keep(server: PostgresServer, database: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([_tool(server, "pg_dump"), "-Fc", "-f", str(path), server.dsn(database)],
                   check=True)  # fmt: skip


def restore(server: PostgresServer, database: str, path: Path) -> None:
    """Replace `database` by the dump; when it exists, its admin keeps the password of this
    run (the dump's admin had the password of the run that made it)."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        password_hash = _admin_hash(server, database) if exists.fetchone() else None
        name = sql.Identifier(database)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
    subprocess.run(
        [_tool(server, "pg_restore"), "--no-owner", "-d", server.dsn(database), str(path)],
        check=True,
    )
    with psycopg.connect(server.dsn(database), autocommit=True) as conn:
        if password_hash is not None:
            conn.execute(
                "UPDATE res_user SET password_hash = %s WHERE login = 'admin'", (password_hash,)
            )
        conn.execute("ANALYZE")  # pg_restore leaves no planner statistics


def _admin_hash(server: PostgresServer, database: str) -> str | None:
    with psycopg.connect(server.dsn(database)) as conn:
        row = conn.execute("SELECT password_hash FROM res_user WHERE login = 'admin'").fetchone()
    return row[0] if row else None
