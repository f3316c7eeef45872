"""Template cache: a database freshly initialised for a module set, copied for the next init.

A template is keyed by backend, trytond version, language, the module set and the checksums of
every module file in its dependency closure, so a changed module or another trytond never comes
out of a stale template. PostgreSQL keeps templates as databases marked IS_TEMPLATE (hidden from
`db list`, copied with CREATE DATABASE ... TEMPLATE); SQLite keeps files under
<data>/templates/. Older templates of the same module set are dropped when a new one is built.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from tryton_ops.access.database import DatabaseError, is_sqlite, server_connect, sqlite_file
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.checksums import current_checksums
from tryton_ops.lifecycle.modules import dependency_closure
from tryton_ops.lifecycle.names import TEMPLATE_PREFIX

PREFIX = TEMPLATE_PREFIX


@dataclass(frozen=True)
class TemplateKey:
    name: str  # ops_tmpl_<module set hash>_<full hash>
    family: str  # ops_tmpl_<module set hash>_ : templates of the same module set
    details: dict

    @classmethod
    def of(cls, config: LoadedConfig, modules: list[str]) -> TemplateKey:
        closure = dependency_closure(sorted(set(modules)))
        details = {
            "backend": config.settings.database.backend,
            "trytond": version("trytond"),
            "language": config.settings.database.language,
            "modules": sorted(set(modules)),
            "checksums": current_checksums(closure),
        }
        family_src = json.dumps([details["modules"], details["language"]])
        family = PREFIX + hashlib.sha256(family_src.encode()).hexdigest()[:8] + "_"
        full = hashlib.sha256(json.dumps(details, sort_keys=True).encode()).hexdigest()[:16]
        return cls(family + full, family, details)


def templates_dir(config: LoadedConfig) -> Path:
    return config.templates_dir


def exists(config: LoadedConfig, key: TemplateKey) -> bool:
    if is_sqlite(config):
        return (templates_dir(config) / f"{key.name}.sqlite").is_file()
    with server_connect(config.settings.database.uri) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate", (key.name,)
        ).fetchone()
    return row is not None


def list_templates(config: LoadedConfig) -> list[str]:
    if is_sqlite(config):
        folder = templates_dir(config)
        return sorted(p.stem for p in folder.glob(f"{PREFIX}*.sqlite")) if folder.is_dir() else []
    with server_connect(config.settings.database.uri) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datistemplate AND datname LIKE %s "
            "ORDER BY datname",
            (PREFIX + "%",),
        ).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    modules: list[str]
    trytond: str | None
    size_bytes: int
    current: bool  # the next init of its module set would copy it (else it is stale)


def describe(config: LoadedConfig) -> list[TemplateInfo]:
    """Every cached template, with what it holds and whether it can still be used.

    A template is stale once trytond or a file of one of its modules changed: its key no
    longer matches, so no init copies it (an init of that module set replaces it).
    """
    found = []
    for name, meta, size in _catalogue(config):
        modules = sorted(meta.get("modules") or [])
        current = bool(modules) and TemplateKey.of(config, modules).name == name
        found.append(TemplateInfo(name, modules, meta.get("trytond"), size, current))
    return found


def _catalogue(config: LoadedConfig) -> list[tuple[str, dict, int]]:
    """(name, the metadata saved with it, size in bytes) of every template."""
    if is_sqlite(config):
        out = []
        for name in list_templates(config):
            base = templates_dir(config) / name
            try:
                meta = json.loads(base.with_suffix(".json").read_text())
            except (OSError, ValueError):
                meta = {}
            size = base.with_suffix(".sqlite").stat().st_size
            out.append((name, meta if isinstance(meta, dict) else {}, size))
        return out
    with server_connect(config.settings.database.uri) as conn:
        rows = conn.execute(
            "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
            "FROM pg_database WHERE datistemplate AND datname LIKE %s ORDER BY datname",
            (PREFIX + "%",),
        ).fetchall()
    out = []
    for name, comment, size in rows:
        try:
            meta = json.loads(comment or "{}")
        except ValueError:
            meta = {}
        out.append((name, meta if isinstance(meta, dict) else {}, size))
    return out


def save(config: LoadedConfig, key: TemplateKey, source: str) -> None:
    """Keep a copy of the freshly initialised database `source` as the template of `key`."""
    for old in list_templates(config):
        if old.startswith(key.family) and old != key.name:
            drop(config, old)
    if is_sqlite(config):
        folder = templates_dir(config)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{key.name}.sqlite.tmp"
        _sqlite_copy(sqlite_file(config, source), tmp)
        replace_file(tmp, folder / f"{key.name}.sqlite")
        (folder / f"{key.name}.json").write_text(
            json.dumps({**key.details, "created": time.time()}, indent=1)
        )
        return
    from psycopg import errors, sql

    with server_connect(config.settings.database.uri) as conn:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(key.name), sql.Identifier(source)
                )
            )
        except errors.DuplicateDatabase:
            return  # built concurrently by another init
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE true").format(sql.Identifier(key.name)))
        comment = json.dumps({"modules": key.details["modules"], "trytond": key.details["trytond"]})
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(key.name), sql.Literal(comment)
            )
        )


def clone(config: LoadedConfig, key: TemplateKey, target: str) -> None:
    """Create database `target` as a copy of the template."""
    if is_sqlite(config):
        dest = sqlite_file(config, target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".sqlite.tmp")
        shutil.copyfile(templates_dir(config) / f"{key.name}.sqlite", tmp)
        replace_file(tmp, dest)
        return
    from psycopg import errors, sql

    with server_connect(config.settings.database.uri) as conn:
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(target), sql.Identifier(key.name)
                )
            )
        except errors.Error as exc:
            raise DatabaseError(f"cannot copy template {key.name}: {exc}") from None


def drop(config: LoadedConfig, name: str) -> None:
    if not name.startswith(PREFIX):
        raise DatabaseError(f"{name!r} is not a template")
    if is_sqlite(config):
        for suffix in (".sqlite", ".json"):
            (templates_dir(config) / f"{name}{suffix}").unlink(missing_ok=True)
        return
    from psycopg import sql

    with server_connect(config.settings.database.uri) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


SIDE_FILES = ("-wal", "-shm", "-journal")


def settle(path: Path) -> None:
    """Fold the WAL into the main file and drop it, so the file alone is the whole database.

    A file moved without its -wal loses committed data, and a file put in place of another
    next to that one's stale -wal/-shm is read as corrupt ("disk I/O error"). trytond puts
    the file back into WAL mode on its next connection.
    """
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
    finally:
        conn.close()


def replace_file(source: Path, dest: Path) -> None:
    """Move a SQLite database file over `dest`, side files included."""
    settle(source)
    for suffix in SIDE_FILES:
        Path(str(dest) + suffix).unlink(missing_ok=True)
    source.replace(dest)


def _sqlite_copy(source: Path, dest: Path) -> None:
    """A consistent copy even while the source is in use (SQLite online backup)."""
    dest.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        out = sqlite3.connect(str(dest))
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
