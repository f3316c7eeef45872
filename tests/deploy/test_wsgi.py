"""The app worker's entry point: a worker boots only with its database's pool loaded, waits
out another process's SQLite lock, and refuses to boot, saying why, on any other load error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from tryton_ops.access.database import sqlite_file
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.deploy.wsgi import LOCKED_RETRY_S

pytestmark = pytest.mark.one_series  # trytond's SQLite backend locks the same way on both

HELD_S = 8.0  # longer than SQLite's 5 s busy timeout that trytond's connections use


def boot_worker(db) -> subprocess.CompletedProcess:
    """What each gunicorn worker does first: import the WSGI module."""
    env = trytond_env(db.config, TRYTOND_DATABASE_NAMES=db.name)
    return subprocess.run(
        [sys.executable, "-c", "import tryton_ops.deploy.wsgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=LOCKED_RETRY_S + 60,
    )


def test_a_worker_waits_out_a_sqlite_lock_held_by_another_process(make_trytond_db):
    db = make_trytond_db("sqlite")
    holder = sqlite3.connect(
        sqlite_file(db.config, db.name), isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN IMMEDIATE")  # what a booting sibling worker's pool load holds
    release = threading.Timer(HELD_S, holder.commit)
    started = time.monotonic()
    release.start()
    try:
        booted = boot_worker(db)
    finally:
        release.join()
        holder.close()
    assert booted.returncode == 0, booted.stderr[-2000:]
    assert time.monotonic() - started >= HELD_S  # it really waited for the lock
    assert "could not be loaded" not in booted.stderr


def test_a_worker_refuses_to_boot_at_once_on_another_load_error(make_trytond_db):
    db = make_trytond_db("sqlite")
    sqlite_file(db.config, db.name).unlink()
    started = time.monotonic()
    booted = boot_worker(db)
    assert booted.returncode != 0
    assert f"database {db.name!r} could not be loaded" in booted.stderr
    assert "doesn't exist" in booted.stderr  # trytond's own reason, passed on
    assert time.monotonic() - started < LOCKED_RETRY_S  # not retried: only a lock is
