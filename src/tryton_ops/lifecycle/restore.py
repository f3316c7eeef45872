"""`db restore`: prove the archive whole, rebuild aside, then swap it in.

Nothing existing is touched until the whole archive has been read and every member matched
its manifest checksum, the dump has been restored into a scratch database and checked. Only
then is the target replaced (with --replace) and the scratch renamed into place, so a corrupt,
truncated or foreign archive leaves the existing database and filestore exactly as they were.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sqlite3
import tarfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tryton_ops.access.database import (
    DatabaseError,
    connect,
    database_exists,
    is_sqlite,
    server_connect,
    sqlite_file,
)
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.backup import (
    CHUNK,
    DUMP,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    filestore_dir,
    pg_tool,
    run_pg_tool,
    work_dir,
)
from tryton_ops.lifecycle.database import drop_database
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.progress import NULL, Reporter
from tryton_ops.lifecycle.templates import replace_file, settle

MAX_MANIFEST = 16 << 20


class ArchiveError(DatabaseError):
    """The archive is not a whole tryton-ops backup; nothing was changed."""


@dataclass(frozen=True)
class RestoreResult:
    name: str
    replaced: bool
    manifest: dict
    seconds: float


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == str(path)


def _read_manifest(tar: tarfile.TarFile, source: Path) -> tuple[dict, tarfile.TarInfo | None]:
    first = tar.next()
    if first is None or first.name != MANIFEST or not first.isfile():
        raise ArchiveError(f"{source} is not a tryton-ops backup (no {MANIFEST} first)")
    if first.size > MAX_MANIFEST:
        raise ArchiveError(f"{source}: {MANIFEST} is implausibly large")
    try:
        manifest = json.loads(tar.extractfile(first).read())
    except ValueError:
        raise ArchiveError(f"{source}: {MANIFEST} is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{source} is not a tryton-ops backup (foreign manifest)")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"{source} has backup format {manifest.get('format_version')!r}; this tryton-ops "
            f"reads format {FORMAT_VERSION}"
        )
    if not isinstance(manifest.get("members"), dict) or manifest.get("backend") not in DUMP:
        raise ArchiveError(f"{source}: the manifest lacks its member list or backend")
    return manifest, first


def read_manifest(source: Path) -> dict:
    """The manifest of an archive, read from its first member only (cheap: no checksums);
    ArchiveError when `source` is not a tryton-ops backup."""
    try:
        with tarfile.open(source, "r:*") as tar:
            return _read_manifest(tar, source)[0]
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        raise ArchiveError(f"{source} is not a tryton-ops backup (not a tar archive)") from None


def verify(source: Path, extract_to: Path | None = None, reporter: Reporter = NULL) -> dict:
    """Read the whole archive; every member must match the manifest's sha256 and size, and
    every listed member must be present. Returns the manifest; raises ArchiveError."""
    source = Path(source)
    if not source.is_file():
        raise ArchiveError(f"{source} does not exist")
    try:
        tar = tarfile.open(source, "r:*")  # noqa: SIM115 - closed by the `with tar` below
    except (tarfile.TarError, EOFError, zlib.error, OSError):
        raise ArchiveError(f"{source} is not a tryton-ops backup (not a tar archive)") from None
    try:
        with tar:
            manifest, first = _read_manifest(tar, source)
            expected = manifest["members"]
            seen: set[str] = set()
            total = sum(int(m.get("size", 0)) for m in expected.values())
            with reporter.stage(f"verifying {source.name}", total=total) as stage:
                for member in tar:
                    if member is first:
                        continue
                    name = member.name
                    if not member.isfile() or not _safe_member(name) or name not in expected:
                        raise ArchiveError(f"{source}: unexpected member {name!r}")
                    if name in seen:
                        raise ArchiveError(f"{source}: member {name!r} appears twice")
                    seen.add(name)
                    digest = hashlib.sha256()
                    size = 0
                    fh = tar.extractfile(member)
                    out = None
                    if extract_to is not None:
                        target = extract_to / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        out = target.open("wb")
                    try:
                        while chunk := fh.read(CHUNK):
                            digest.update(chunk)
                            size += len(chunk)
                            stage.advance(len(chunk))
                            if out is not None:
                                out.write(chunk)
                    finally:
                        if out is not None:
                            out.close()
                    want = expected[name]
                    if size != want.get("size") or digest.hexdigest() != want.get("sha256"):
                        raise ArchiveError(f"{source}: member {name!r} is corrupt (checksum)")
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        reason = str(exc).splitlines()[0].rstrip(":") or type(exc).__name__
        raise ArchiveError(f"{source} is corrupt or truncated ({reason})") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise ArchiveError(f"{source} is truncated: missing {', '.join(missing[:5])}")
    if DUMP[manifest["backend"]] not in seen:
        raise ArchiveError(f"{source} holds no database dump")
    return manifest


def restore(
    config: LoadedConfig,
    source: Path,
    name: str,
    replace: bool = False,
    deactivate_cron: bool = False,
    reporter: Reporter = NULL,
) -> RestoreResult:
    started = time.perf_counter()
    check_name(name)
    exists = database_exists(config, name)
    if exists and not replace:
        raise DatabaseError(
            f"database {name!r} exists: restore under another name, or pass --replace"
        )
    backend = config.settings.database.backend
    with work_dir(config) as work:
        manifest = verify(Path(source), extract_to=work, reporter=reporter)
        if manifest["backend"] != backend:
            raise ArchiveError(
                f"{source} is a {manifest['backend']} backup; this deployment uses {backend}"
            )
        scratch = f"ops_restore_{secrets.token_hex(4)}"
        try:
            with reporter.stage(f"restoring the {backend} dump aside ({scratch})"):
                _restore_dump(config, work / DUMP[backend], scratch)
            if deactivate_cron:
                with connect(config, scratch) as session:
                    session.execute("UPDATE ir_cron SET active = %s", (False,))
            with reporter.stage(f"swapping {name} in"):
                swap_in(config, scratch, name, work / "filestore", replace=exists)
        except BaseException:
            drop_database(config, scratch)
            raise
    return RestoreResult(name, exists, manifest, time.perf_counter() - started)


def _restore_dump(config: LoadedConfig, dump: Path, scratch: str) -> None:
    if is_sqlite(config):
        try:
            with sqlite3.connect(f"file:{dump}?mode=ro", uri=True) as conn:
                ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
                tryton = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='ir_module'"
                ).fetchone()
        except sqlite3.Error as exc:
            raise ArchiveError(f"the SQLite file in the archive is unreadable: {exc}") from None
        if ok != "ok" or not tryton:
            raise ArchiveError(f"the SQLite file in the archive is damaged ({ok})")
        target = sqlite_file(config, scratch)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(dump, target)
        settle(target)
        return
    from psycopg import sql

    run_pg_tool(config, [pg_tool(config, "pg_restore"), "--list", str(dump)], "reading the dump")
    with server_connect(config.settings.database.uri) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(scratch)
            )
        )
    argv = [
        pg_tool(config, "pg_restore"),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "-d",
        scratch,
        str(dump),
    ]
    run_pg_tool(config, argv, "pg_restore")


def swap_in(config: LoadedConfig, scratch: str, name: str, files: Path, replace: bool) -> None:
    """Put the restored database and filestore in place of `name` (dropping the old one)."""
    store = filestore_dir(config, name)
    old_store = store.with_name(f".{name}.old-{secrets.token_hex(4)}")
    if store.exists():
        store.rename(old_store)
    try:
        if files.is_dir():
            shutil.move(files, store)
        if is_sqlite(config):
            replace_file(sqlite_file(config, scratch), sqlite_file(config, name))
        else:
            from psycopg import sql

            with server_connect(config.settings.database.uri) as conn:
                if replace:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                        sql.Identifier(scratch), sql.Identifier(name)
                    )
                )
    except BaseException:
        if store.exists() and old_store.exists():
            shutil.rmtree(store, ignore_errors=True)
        if old_store.exists():
            old_store.rename(store)
        raise
    shutil.rmtree(old_store, ignore_errors=True)
