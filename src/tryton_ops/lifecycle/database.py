"""The steps of creating and dropping trytond databases on SQLite and PostgreSQL.

trytond's own tools do the schema work (`trytond-admin` in a subprocess reading the rendered
trytond.conf), so the cache class, backend and mixins a deployment configures are the ones used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tryton_ops.access.database import (
    DatabaseError,
    is_sqlite,
    server_connect,
    sqlite_file,
)
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env


def trytond_script(name: str) -> str:
    """Path of a trytond console script installed beside the running Python."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    raise DatabaseError(f"{name} not found next to {sys.executable}: is trytond installed here?")


def admin_password(config: LoadedConfig, generate: bool = True) -> tuple[str, Path]:
    """The admin password and the file it lives in; generated (0600) when none is configured."""
    configured = config.settings.database.admin_password_file
    path = configured.expanduser() if configured else config.data_dir / "admin-password"
    if path.is_file():
        password = path.read_text().strip()
        if not password or "\n" in password:
            raise DatabaseError(f"{path} must hold the password on a single non-empty line")
        return password, path
    if configured or not generate:
        raise DatabaseError(f"admin password file {path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password, path


def _record_checksums(config: LoadedConfig, name: str) -> None:
    """So that `db update` later knows which module files changed since this init."""
    from tryton_ops.access.database import activated_modules, connect
    from tryton_ops.lifecycle.checksums import current_checksums, record_checksums

    with connect(config, name) as session:
        record_checksums(session, current_checksums(activated_modules(session)))


def _create_empty(config: LoadedConfig, name: str) -> None:
    uri = config.settings.database.uri
    if is_sqlite(config):
        path = sqlite_file(config, name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=False)
        except FileExistsError:
            raise DatabaseError(f"{path} exists but is not a Tryton database") from None
        except OSError as exc:
            raise DatabaseError(f"cannot create {path}: {exc.strerror}") from None
        return
    from psycopg import sql

    with server_connect(uri) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(
                sql.Identifier(name)
            )
        )


def drop_database(config: LoadedConfig, name: str) -> None:
    uri = config.settings.database.uri
    if is_sqlite(config):
        path = sqlite_file(config, name)
        for suffix in ("", "-wal", "-shm", "-journal"):  # a stale WAL would corrupt a successor
            Path(str(path) + suffix).unlink(missing_ok=True)
        return
    from psycopg import sql

    with server_connect(uri) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _run_admin(config: LoadedConfig, name: str, modules: list[str], password_file: Path) -> None:
    cmd = [trytond_script("trytond-admin"), "-d", name, "--all"]
    if modules:
        cmd += ["-u", *modules, "--activate-dependencies"]
    env = trytond_env(config, TRYTONPASSFILE=str(password_file))
    _run(cmd, env, f"initialising database {name!r}", stdin="\n")


def _load_demo(config: LoadedConfig, name: str, count: int) -> None:
    cmd = [sys.executable, "-m", "tryton_ops.lifecycle.demo", name, str(count)]
    _run(cmd, trytond_env(config), f"loading demo records into {name!r}")


class StepTimeout(DatabaseError):
    """A trytond subprocess ran past its time limit and was killed (with its children)."""


def _die_with_parent() -> None:
    """In the child: SIGKILL when the tryton-ops process that started it dies, so a killed
    `db update` leaves no trytond-admin writing to the database behind it."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _run(
    cmd: list[str],
    env: dict[str, str],
    what: str,
    stdin: str = "",
    timeout: float | None = None,
) -> tuple[str, str]:
    """Run a trytond tool; (stdout, stderr) on success, DatabaseError on failure, StepTimeout
    once `timeout` seconds have passed."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a timeout kills the whole group
        preexec_fn=_die_with_parent,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        raise StepTimeout(f"{what} did not finish within {timeout:.0f} s (killed)") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, 9)
        proc.wait()
        raise
    if proc.returncode != 0:
        tail = "\n".join((err or out).strip().splitlines()[-15:])
        raise DatabaseError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    return out, err
