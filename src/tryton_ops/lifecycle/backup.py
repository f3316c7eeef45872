"""`db backup`: one archive with the database dump, the attachment filestore and a manifest.

Layout (a gzip'd tar): `manifest.json` first, then `database.dump` (PostgreSQL custom format,
pg_dump -Fc) or `database.sqlite` (SQLite online backup), then `filestore/...`. The manifest holds
the format, backend, trytond version, modules (state, version, checksum), the date and the
sha256 and size of every other member, so a restore can prove the archive whole before it
touches anything (see restore.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import BinaryIO

from tryton_ops.access.database import (
    DatabaseError,
    connect,
    database_exists,
    exported_snapshot,
    is_sqlite,
    sqlite_file,
)
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import database_path
from tryton_ops.errors import OpsError
from tryton_ops.lifecycle.checksums import recorded_checksums
from tryton_ops.lifecycle.modules import module_version
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.progress import NULL, Reporter
from tryton_ops.lifecycle.templates import _sqlite_copy, settle

FORMAT = "tryton-ops-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = {"postgresql": "database.dump", "sqlite": "database.sqlite"}
CHUNK = 1 << 20


class BackupError(OpsError):
    """The archive cannot be written where it should go; nothing was changed."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    seconds: float
    manifest: dict


def filestore_dir(config: LoadedConfig, name: str) -> Path:
    """trytond's filestore for database `name`: `[database] path/<name>/`."""
    return database_path(config) / name


def backups_dir(config: LoadedConfig) -> Path:
    return config.backups_dir


def private_backups_dir(config: LoadedConfig) -> Path:
    """The backups directory, made 0700: it lists which databases exist and their archives."""
    folder = backups_dir(config)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # also one an earlier version made with the umask's mode
    except OSError as exc:
        raise BackupError(
            f"cannot use the backups directory {folder}: {exc.strerror}; set paths.backups in "
            "tryton-ops.toml to a directory this user can write"
        ) from None
    return folder


@contextlib.contextmanager
def private_file(path: Path) -> Iterator[BinaryIO]:
    """`path` opened for writing, 0600 from its first byte (an archive holds password hashes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not change a file left by an interrupted run
    with os.fdopen(fd, "wb") as fh:
        yield fh


def sha256_file(path: Path, stage=None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            if stage is not None:
                stage.advance(len(chunk))
    return digest.hexdigest()


# -- PostgreSQL client tools -------------------------------------------------------------------


def pg_env(config: LoadedConfig) -> dict[str, str]:
    """libpq environment for pg_dump/pg_restore: the password never goes on a command line."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(config.settings.database.uri)
    mapping = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "sslmode": "PGSSLMODE",
        "sslrootcert": "PGSSLROOTCERT",
        "passfile": "PGPASSFILE",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in mapping.items():
        if params.get(key) not in (None, ""):
            env[var] = str(params[key])
    return env


def pg_tool(config: LoadedConfig, tool: str) -> str:
    """pg_dump/pg_restore of the server's major version when installed, else the one on PATH."""
    from tryton_ops.access.database import server_connect

    with server_connect(config.settings.database.uri) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    candidate = Path(f"/usr/lib/postgresql/{major}/bin/{tool}")
    if candidate.exists():
        return str(candidate)
    found = shutil.which(tool)
    if found is None:
        raise DatabaseError(f"{tool} not found: install the PostgreSQL {major} client tools")
    return found


def run_pg_tool(config: LoadedConfig, argv: list[str], what: str) -> str:
    proc = subprocess.run(argv, env=pg_env(config), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise DatabaseError(f"{what} failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def dump_database(config: LoadedConfig, name: str, dest: Path) -> float:
    """A consistent dump of a database that may be in use; returns a time no earlier than
    its snapshot and no later than needed (what the dump holds was committed before it)."""
    if is_sqlite(config):
        _sqlite_copy(sqlite_file(config, name), dest)  # one step: one read transaction
        instant = time.time()
        settle(dest)  # the file alone is the whole database
        return instant
    with exported_snapshot(config, name) as snapshot:
        instant = time.time()
        argv = [pg_tool(config, "pg_dump"), "-Fc", "--no-owner", f"--snapshot={snapshot}",
                "-f", str(dest), "-d", name]  # fmt: skip
        run_pg_tool(config, argv, f"pg_dump of {name!r}")
    return instant


# -- the archive -------------------------------------------------------------------------------


def _manifest(config: LoadedConfig, name: str, members: dict[str, dict]) -> dict:
    from tryton_ops.lifecycle.neutralize import mark

    with connect(config, name) as session:
        states = dict(session.execute("SELECT name, state FROM ir_module ORDER BY name"))
        checksums = recorded_checksums(session)
        neutralized = mark(session)
    modules = {
        module: {
            "state": state,
            "version": module_version(module),
            "checksum": checksums.get(module),
        }
        for module, state in states.items()
        if state == "activated"
    }
    now = time.time()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backend": config.settings.database.backend,
        "database": name,
        "created": now,
        "created_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "host": socket.gethostname(),
        "trytond": version("trytond"),
        "modules": modules,
        "members": members,
        "neutralized": neutralized,  # a restore --replace refuses it over production
    }


def pin_filestore(store: Path, dest: Path, instant: float) -> tuple[list[tuple[str, Path]], int]:
    """The attachment files as they were at `instant`, pinned under `dest`; and how many
    newer ones were left out.

    trytond writes an attachment's file (under a fresh random id, never rewritten) before its
    row commits, so every file a row of a dump taken at `instant` points at was complete
    before it, with an mtime no later. A file modified after `instant` (written while the
    backup runs, maybe half written) cannot be used by the dump: it is left out. Each file is
    hard-linked (copied across file systems) into the work directory first, so the checksum
    and the archive read the same bytes even if trytond's retention cron removes it meanwhile.
    """
    found: list[tuple[str, Path]] = []
    later = 0
    if not store.is_dir():
        return found, later
    for path in sorted(store.rglob("*")):
        relative = path.relative_to(store)
        target = dest / relative
        try:
            if not path.is_file() or path.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError as exc:
                if isinstance(exc, FileNotFoundError):
                    continue  # removed meanwhile
                shutil.copy2(path, target)
        except FileNotFoundError:
            continue
        if target.stat().st_mtime > instant:
            target.unlink()
            later += 1
            continue
        found.append(("filestore/" + relative.as_posix(), target))
    return found, later


@contextlib.contextmanager
def work_dir(config: LoadedConfig) -> Iterator[Path]:
    """A private scratch directory beside the data (same file system: cheap renames)."""
    path = Path(tempfile.mkdtemp(prefix=".work-", dir=private_backups_dir(config)))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def default_archive(config: LoadedConfig, name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return backups_dir(config) / f"{name}-{stamp}.tar.gz"


def claim_archive(tmp: Path, out: Path) -> Path:
    """Move `tmp` to `out`, or to NAME-DATE-2.tar.gz, -3... when `out` is taken: two backups
    in the same second (an update retried at once) must not replace one another."""
    stem = out.name.removesuffix(".tar.gz")
    for number in itertools.count(1):
        target = out if number == 1 else out.with_name(f"{stem}-{number}.tar.gz")
        try:
            os.link(tmp, target)  # fails if taken, where a rename would replace
        except FileExistsError:
            continue
        tmp.unlink()
        return target
    raise AssertionError("unreachable")


def backup(
    config: LoadedConfig,
    name: str,
    out: Path | None = None,
    reporter: Reporter = NULL,
    record: bool = True,
) -> BackupResult:
    """Write the archive of `name` to `out` (default: <data>/backups/NAME-DATE.tar.gz);
    `record`: as the last backup of `name` (`status`), not for a throw-away one."""
    started = time.perf_counter()
    check_name(name)
    if not database_exists(config, name):
        raise DatabaseError(f"database {name!r} does not exist")
    named = out is None  # our own name: never replaces an archive
    out = (out or default_archive(config, name)).expanduser().absolute()
    if out.is_dir():
        raise DatabaseError(f"{out} is a directory: give the archive's file name")
    if out.parent == backups_dir(config):
        private_backups_dir(config)
    elif not out.parent.is_dir():
        raise BackupError(f"{out.parent} does not exist: create it, or give another --out")
    backend = config.settings.database.backend
    with work_dir(config) as work:
        dump = work / DUMP[backend]
        with reporter.stage(f"dumping {name} ({backend})"):
            instant = dump_database(config, name, dump)  # what was committed then
        files: list[tuple[str, Path]] = [(DUMP[backend], dump)]
        with reporter.stage("pinning the attachments of that instant"):
            attachments, later = pin_filestore(
                filestore_dir(config, name), work / "filestore", instant
            )
        files += attachments
        total = sum(path.stat().st_size for _, path in files)
        members = {}
        with reporter.stage("checksumming", total=total) as stage:
            for arcname, path in files:
                members[arcname] = {"sha256": sha256_file(path, stage), "size": path.stat().st_size}
        manifest = _manifest(config, name, members)
        manifest["instant"] = instant
        manifest["attachments_after_instant"] = later  # left out: no row of the dump uses them
        manifest_file = work / MANIFEST
        manifest_file.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        tmp = out.with_name(out.name + ".part")
        with (
            reporter.stage(f"writing {out.name}", total=total) as stage,
            private_file(tmp) as fh,
            tarfile.open(fileobj=fh, mode="w:gz", compresslevel=1) as tar,
        ):
            tar.add(manifest_file, MANIFEST)
            for arcname, path in files:
                tar.add(path, arcname)
                stage.advance(path.stat().st_size)
        if named:
            out = claim_archive(tmp, out)
        else:
            tmp.replace(out)
    size = out.stat().st_size
    if record:
        record_backup(config, name, out, manifest["created"], size)
    return BackupResult(out, size, time.perf_counter() - started, manifest)


# -- the record of the last backup (status, doctor) --------------------------------------------


def _index(config: LoadedConfig) -> Path:
    return backups_dir(config) / "index.json"


def record_backup(config: LoadedConfig, name: str, path: Path, created: float, size: int) -> None:
    index = _index(config)
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError):
        data = {}
    data[name] = {"path": str(path), "created": created, "size": size}
    private_backups_dir(config)
    tmp = index.with_suffix(".tmp")
    with private_file(tmp) as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True).encode())
    tmp.replace(index)


def last_backup(config: LoadedConfig, name: str) -> dict | None:
    """{path, created, size, age_s} of the last backup of `name` made by tryton-ops."""
    try:
        entry = json.loads(_index(config).read_text()).get(name)
    except (OSError, ValueError):
        return None
    if not entry:
        return None
    return {**entry, "age_s": round(time.time() - entry["created"], 1)}
