"""The admin password: from a file, the environment or a prompt, never from the command line.

A password on the command line ends up in shell history and in `ps` output for every local user,
so the CLI offers no option for it. trytond-admin reads it from the file in `TRYTONPASSFILE`; a
password from the environment or a prompt goes through a private temporary file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tryton_ops.access.database import DatabaseError, Session
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.database import admin_password

ENV_VAR = "TRYTON_ADMIN_PASSWORD"


@dataclass(frozen=True)
class AdminPassword:
    value: str = field(repr=False)  # never printed
    source: str
    file: Path | None = None


def read_password_file(path: Path) -> str:
    try:
        text = path.expanduser().read_text()
    except OSError as exc:
        raise DatabaseError(f"cannot read admin password file {path}: {exc.strerror}") from None
    password = text.strip()
    if not password or "\n" in password:
        raise DatabaseError(f"{path} must hold the password on a single non-empty line")
    return password


def resolve(
    config: LoadedConfig,
    password_file: Path | None = None,
    prompt: Callable[[], str] | None = None,
) -> AdminPassword:
    """In order: `--password-file`, `$TRYTON_ADMIN_PASSWORD`, `--prompt`, the configured file
    (database.admin_password_file), else a generated one kept in the data directory."""
    if password_file is not None:
        return AdminPassword(read_password_file(password_file), "file", password_file)
    if os.environ.get(ENV_VAR):
        return AdminPassword(os.environ[ENV_VAR], f"${ENV_VAR}")
    if prompt is not None:
        value = prompt()
        if not value:
            raise DatabaseError("an empty admin password is not allowed")
        return AdminPassword(value, "prompt")
    value, path = admin_password(config)
    return AdminPassword(value, "file", path)


@contextlib.contextmanager
def as_file(password: AdminPassword) -> Iterator[Path]:
    """A file holding the password for TRYTONPASSFILE; temporary (0600) unless it is one."""
    if password.file is not None:
        yield password.file
        return
    fd, name = tempfile.mkstemp(prefix="tryton-ops-pw-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(password.value + "\n")
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def _hasher():
    import pwdlib
    import pwdlib.hashers.argon2

    hashers = [pwdlib.hashers.argon2.Argon2Hasher()]
    with contextlib.suppress(Exception):
        import pwdlib.hashers.bcrypt

        hashers.append(pwdlib.hashers.bcrypt.BcryptHasher())
    return pwdlib.PasswordHash(hashers)


def ensure_admin_password(session: Session, password: str, login: str = "admin") -> bool:
    """Give `login` this password unless it already has it (as trytond hashes it: pwdlib,
    argon2 first). Returns True when the hash was rewritten."""
    current = session.scalar("SELECT password_hash FROM res_user WHERE login = %s", (login,))
    hasher = _hasher()
    if current:
        with contextlib.suppress(Exception):
            if hasher.verify(password, current):
                return False
    session.execute(
        "UPDATE res_user SET password_hash = %s WHERE login = %s", (hasher.hash(password), login)
    )
    return True
