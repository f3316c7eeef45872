"""The web root nginx serves sao from must be readable by nginx's workers.

nginx answers `GET /` from the web root with `try_files ... @tryton`. When its workers cannot
enter a directory on the way, `stat()` fails, the file counts as missing and the request goes
to trytond, which serves the same file from its own `[web] root`: nothing fails, so nobody
notices that the static files bypass nginx (no caching headers, a trytond worker busy with every
script and stylesheet) until the load shows it. A file it can reach but not read is worse: nginx
answers 403 and the web client does not load. (Both seen with nginx 1.22.)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

from tryton_ops.deploy import maintenance
from tryton_ops.deploy.programs import front_enabled, nginx_workers_user
from tryton_ops.deploy.web_client import web_root
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding

# what a browser fetches first; the placeholder page has only the first
PAGES = ("index.html", "dist/tryton-sao.js", "dist/tryton-sao.css")
NGINX_ROOT_WORKERS = "nobody"  # nginx's workers when its master runs as root without `user`


def worker_account(ctx: Context) -> pwd.struct_passwd:
    """Whom nginx's workers run as: with no local stack running, the service user of `deploy
    install` when it exists here (nobody if it is root: systemd starts nginx as root then);
    else as `up` runs them: this user, or as root the run directory's owner."""
    if ctx.stack is None:
        with contextlib.suppress(KeyError):
            account = pwd.getpwnam(ctx.settings.server.user)
            return pwd.getpwnam(NGINX_ROOT_WORKERS) if account.pw_uid == 0 else account
    owner = nginx_workers_user(ctx.config.run_dir)
    return pwd.getpwnam(owner) if owner is not None else pwd.getpwuid(os.geteuid())


def _allowed(path: Path, account: pwd.struct_passwd, groups: set[int], bit: int) -> bool:
    """`bit` (read or execute, as the owner's bit) granted to `account` on `path`."""
    st = path.stat()
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & bit)
    if st.st_gid in groups:
        return bool(st.st_mode & (bit >> 3))
    return bool(st.st_mode & (bit >> 6))


def closed(root: Path, account: pwd.struct_passwd) -> Path | None:
    """The first directory on the way to `root` (itself included) `account` cannot enter."""
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    for folder in [*reversed(root.parents), root]:
        if not _allowed(folder, account, groups, stat.S_IXUSR):
            return folder
    return None


def unreadable(root: Path, account: pwd.struct_passwd) -> list[Path]:
    """The pages of `root` a browser loads first that `account` cannot read."""
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    pages = [root / name for name in PAGES if (root / name).is_file()]
    return [page for page in pages if not _allowed(page, account, groups, stat.S_IRUSR)]


def check(ctx: Context) -> Iterator[Finding]:
    if not front_enabled(ctx.config):
        return
    yield from _maintenance_flags(ctx)
    yield from _web_client(ctx)


def _maintenance_flags(ctx: Context) -> Iterator[Finding]:
    account = worker_account(ctx)
    flags = maintenance.flag_dir(ctx.config.run_dir)
    made = next(path for path in (flags, *flags.parents) if path.exists())  # before `up`
    folder = closed(made, account)
    if folder is not None:
        yield Finding(
            "web.maintenance-unreachable",
            "error",
            f"nginx's workers ({account.pw_name}) cannot enter {folder}, on the way to the "
            "maintenance flags",
            f"nginx cannot stat {flags}/<database>: while `db update` holds a database in "
            "maintenance, nginx passes its requests on instead of answering 503 (trytond's own "
            "check still answers them), and every request writes a `[crit] ... (13: Permission "
            "denied)` line to nginx's error log.",
            f"run nginx's workers as the run directory's owner (`up` does it when it runs as "
            f"root; with your own nginx, `user {made.owner()};`), or let "
            f"{account.pw_name} through: chmod o+x on each directory above {flags}.",
        )


def _web_client(ctx: Context) -> Iterator[Finding]:
    root = web_root(ctx.config)
    if root is None or not root.is_dir():
        return
    account = worker_account(ctx)
    who = account.pw_name
    fix = (
        f"`tryton-ops deploy install` gives <data>/web to the service user (0750, files 0640); "
        f"by hand, chown -R {who} {root} and chmod a+x the directories above it."
    )
    folder = closed(root, account)
    if folder is not None:
        yield Finding(
            "web.root-unreadable",
            "warning",
            f"nginx's workers ({who}) cannot enter {folder}, on the way to the web client",
            f"nginx cannot stat the web client's files in {root}, counts them as missing and "
            "passes every request to trytond, which serves them from the same directory: the "
            "web client works, but each static file costs a trytond worker and gets no caching "
            "headers (nginx's error log says `stat() ... failed (13: Permission denied)`).",
            fix,
        )
        return
    pages = unreadable(root, account)
    if pages:
        yield Finding(
            "web.pages-unreadable",
            "error",
            f"nginx's workers ({who}) cannot read {len(pages)} page(s) of the web client",
            f"{', '.join(map(str, pages))}: nginx finds them but cannot open them and answers "
            "403 Forbidden: the web client does not load through nginx.",
            fix,
        )
