"""Files holding secrets that other local users may read: backups and the admin password."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

from tryton_ops.lifecycle.backup import backups_dir, last_backup
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding

GROUP_OR_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def _open_to_others(path: Path) -> bool:
    try:
        return bool(path.stat().st_mode & GROUP_OR_OTHERS)
    except OSError:
        return False


def _backups(ctx: Context) -> list[Path]:
    folder = backups_dir(ctx.config)
    found = sorted(folder.glob("*.tar.gz")) if folder.is_dir() else []
    last = last_backup(ctx.config, ctx.database)
    if last is not None and Path(last["path"]) not in found:
        found.append(Path(last["path"]))
    return found


def check(ctx: Context) -> Iterator[Finding]:
    folder = backups_dir(ctx.config)
    readable = [p for p in [folder, *_backups(ctx)] if _open_to_others(p)]
    if readable:
        names = ", ".join(str(p) for p in readable)
        yield Finding(
            "backups.readable",
            "error",
            f"{len(readable)} backup path(s) open to group or others",
            f"{names}: an archive holds the whole database, password hashes included; the "
            "directory lists the databases and their archives.",
            f"chmod 600 the archives and chmod 700 {folder} (`tryton-ops db backup` writes "
            "them so since this version); check copies kept elsewhere too.",
        )
    password_file = ctx.config.settings.database.admin_password_file
    path = password_file.expanduser() if password_file else ctx.config.data_dir / "admin-password"
    if _open_to_others(path):
        yield Finding(
            "database.password-file-readable",
            "error",
            f"admin password file {path} is open to group or others",
            "Whoever reads it logs into every database of this deployment as admin.",
            f"chmod 600 {path} (owned by the user running tryton-ops).",
        )
