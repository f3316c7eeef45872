"""A first `up` that fails leaves nothing behind.

Before its database exists, `up` makes the data directory (and the database directory in
it) and generates the admin password file; when it then fails (a missing module, a port
in use, Ctrl-C), those would stay: a data directory nobody asked for, and a password that
opens nothing but would be reused, unseen, by the next run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tryton_ops.config import LoadedConfig


def generated_password_file(config: LoadedConfig) -> Path | None:
    """The admin password file tryton-ops generates (None when the config names one)."""
    if config.settings.database.admin_password_file:
        return None
    return config.data_dir / "admin-password"


@contextlib.contextmanager
def undone_on_failure(config: LoadedConfig) -> Iterator[None]:
    """On an exception, remove the generated password file if it did not exist before, and
    every directory under the data directory (itself included) that this run created and
    left empty. Files of others, and anything a run did create (a database, a template),
    stay."""
    password = generated_password_file(config)
    had_password = password is None or password.exists()
    before = _existing_dirs(config.data_dir)
    try:
        yield
    except BaseException:
        if not had_password:
            password.unlink(missing_ok=True)
        created = sorted(_existing_dirs(config.data_dir) - before, key=lambda p: -len(p.parts))
        for folder in created:
            with contextlib.suppress(OSError):  # not empty: something was made there
                folder.rmdir()
        raise


def _existing_dirs(root: Path) -> set[Path]:
    """`root` and its ancestors that exist, and every directory below it."""
    found = {path for path in (root, *root.parents) if path.is_dir()}
    if root.is_dir():
        found |= {path for path in root.rglob("*") if path.is_dir()}
    return found
