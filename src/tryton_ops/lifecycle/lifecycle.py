"""`db copy` and `db drop`: a database always together with its attachment filestore."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from tryton_ops.access.database import (
    DatabaseError,
    database_exists,
    is_sqlite,
    server_connect,
    sqlite_file,
)
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.backup import dump_database, filestore_dir, pg_tool, run_pg_tool, work_dir
from tryton_ops.lifecycle.database import drop_database
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.progress import NULL, Reporter
from tryton_ops.lifecycle.restore import swap_in
from tryton_ops.lifecycle.templates import _sqlite_copy, replace_file


def copy_database(
    config: LoadedConfig,
    source: str,
    target: str,
    reporter: Reporter = NULL,
    replace: bool = False,
    prepare: Callable[[str, Path], None] | None = None,
) -> str:
    """Copy `source` to `target` (replaced only with `replace`); returns the method used.

    PostgreSQL: CREATE DATABASE ... TEMPLATE (fast, file level), which needs the source idle;
    while workers are connected it falls back to pg_dump | pg_restore, which is online.
    SQLite: the online backup API. A replaced target is copied aside first and swapped in
    only once the copy is complete. With `prepare(scratch, filestore)`, the copy is always made
    aside and prepared there (neutralized) before it appears under its name.
    """
    check_name(source)
    check_name(target)
    if source == target:
        raise DatabaseError("source and target are the same database")
    if not database_exists(config, source):
        raise DatabaseError(f"database {source!r} does not exist")
    exists = database_exists(config, target)
    if (exists or filestore_dir(config, target).exists()) and not replace:
        raise DatabaseError(f"database {target!r} already exists (--replace replaces it)")
    if not exists and not filestore_dir(config, target).exists() and prepare is None:
        return _copy(config, source, target, filestore_dir(config, target), reporter)
    scratch = f"ops_restore_{secrets.token_hex(4)}"
    with work_dir(config) as work:
        method = _copy(config, source, scratch, work / "filestore", reporter)
        try:
            if prepare is not None:
                prepare(scratch, work / "filestore")
            with reporter.stage(f"swapping {target} in"):
                swap_in(config, scratch, target, work / "filestore", replace=exists)
        except BaseException:
            drop_database(config, scratch)
            raise
    return method


def _copy(
    config: LoadedConfig, source: str, target: str, files: Path | None, reporter: Reporter
) -> str:
    """Copy the database `source` to a new `target` and its filestore to `files` (not when
    None: a rehearsal copy needs no attachments)."""
    method = "sqlite backup"
    try:
        with reporter.stage(f"copying {source} to {target}"):
            if is_sqlite(config):
                dest = sqlite_file(config, target)
                if dest.exists():
                    raise DatabaseError(f"{dest} exists")
                tmp = dest.with_suffix(".sqlite.tmp")
                _sqlite_copy(sqlite_file(config, source), tmp)
                replace_file(tmp, dest)
            else:
                method = _pg_copy(config, source, target)
        store = filestore_dir(config, source)
        if files is not None and store.is_dir():
            with reporter.stage("copying the filestore"):
                shutil.copytree(store, files)
    except BaseException:
        drop_database(config, target)
        if files is not None:
            shutil.rmtree(files, ignore_errors=True)
        raise
    return method


def _pg_copy(config: LoadedConfig, source: str, target: str) -> str:
    from psycopg import errors, sql

    with server_connect(config.settings.database.uri) as conn:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(target), sql.Identifier(source)
                )
            )
            return "template"
        except errors.ObjectInUse:
            pass  # workers are connected to the source: copy online instead
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(target)
            )
        )
    with work_dir(config) as work:
        dump = work / "copy.dump"
        dump_database(config, source, dump)
        argv = [pg_tool(config, "pg_restore"), "--no-owner", "--no-privileges",
                "--exit-on-error", "-d", target, str(dump)]  # fmt: skip
        run_pg_tool(config, argv, "pg_restore")
    return "dump and restore (source in use)"


def copy_database_only(
    config: LoadedConfig, source: str, target: str, reporter: Reporter = NULL
) -> str:
    """A scratch copy of the database alone (no filestore); `target` must not exist."""
    return _copy(config, source, target, None, reporter)


def drop(config: LoadedConfig, name: str) -> None:
    """Drop the database (ending its connections) and its filestore."""
    check_name(name)
    if not database_exists(config, name):
        raise DatabaseError(f"database {name!r} does not exist")
    drop_database(config, name)
    shutil.rmtree(filestore_dir(config, name), ignore_errors=True)
