"""One update per database at a time.

PostgreSQL: a session advisory lock held on a connection to the server for the whole update,
so two hosts sharing the server also exclude each other, and the lock goes away with the
process if it dies. SQLite: an flock on a file beside the database (same property).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator

from tryton_ops.access.database import DatabaseError, is_sqlite, server_connect
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import database_path


class LockBusy(DatabaseError):
    """Another process holds the lock."""


def _key(name: str) -> int:
    digest = hashlib.sha256(f"tryton-ops update {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive(config: LoadedConfig, name: str, what: str = "update") -> Iterator[None]:
    if is_sqlite(config):
        folder = database_path(config)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f".{name}.{what}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise LockBusy(
                    f"another {what} of database {name!r} is running (pid {holder}); "
                    "wait for it to finish"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)
        return
    with server_connect(config.settings.database.uri) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_key(name),)).fetchone()[0]
        if not got:
            row = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND ((classid::bigint << 32) | objid::bigint) = %s LIMIT 1",
                (_key(name),),
            ).fetchone()
            holder = f"server backend {row[0]}" if row else "another session"
            raise LockBusy(
                f"another {what} of database {name!r} is running ({holder}); wait for it to finish"
            )
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_key(name),))
