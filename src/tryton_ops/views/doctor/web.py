"""The web root nginx serves sao from must be readable by nginx's workers.

nginx answers `GET /` from the web root with `try_files ... @tryton`: a file its workers cannot
open is treated as missing and the request goes to trytond, which serves the same file from its
own `[web] root`. Nothing fails, so nobody notices the static files bypass nginx (no caching
headers, a trytond worker busy with every script and stylesheet) until the load shows it.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

from tryton_ops.deploy.programs import front_enabled
from tryton_ops.deploy.web_client import web_root
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding

# what a browser fetches first; the placeholder page has only the first
PAGES = ("index.html", "dist/tryton-sao.js", "dist/tryton-sao.css")
NGINX_ROOT_WORKERS = "nobody"  # nginx's workers when its master runs as root without `user`


def worker_account(ctx: Context) -> pwd.struct_passwd:
    """Whom nginx's workers run as: the user running the local stack of `up`, else the service
    user of `deploy install` when it exists here, else this user; root's workers are nobody."""
    server = ctx.settings.server
    try:
        account = pwd.getpwuid(os.geteuid())
        if ctx.stack is None:
            account = pwd.getpwnam(server.user)
    except KeyError:
        pass
    if account.pw_uid == 0:
        return pwd.getpwnam(NGINX_ROOT_WORKERS)
    return account


def _allowed(path: Path, account: pwd.struct_passwd, groups: set[int], bit: int) -> bool:
    """`bit` (read or execute, as the owner's bit) granted to `account` on `path`."""
    st = path.stat()
    if st.st_uid == account.pw_uid:
        return bool(st.st_mode & bit)
    if st.st_gid in groups:
        return bool(st.st_mode & (bit >> 3))
    return bool(st.st_mode & (bit >> 6))


def blocked(root: Path, account: pwd.struct_passwd) -> list[Path]:
    """The directories on the way to `root` it cannot enter and the pages it cannot read."""
    groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
    found = [
        folder
        for folder in [*reversed(root.parents), root]
        if not _allowed(folder, account, groups, stat.S_IXUSR)
    ]
    if found:
        return found[:1]  # nothing below it is reachable
    pages = [root / name for name in PAGES if (root / name).is_file()]
    return [page for page in pages if not _allowed(page, account, groups, stat.S_IRUSR)]


def check(ctx: Context) -> Iterator[Finding]:
    if not front_enabled(ctx.config):
        return
    root = web_root(ctx.config)
    if root is None or not root.is_dir():
        return
    account = worker_account(ctx)
    unreadable = blocked(root, account)
    if not unreadable:
        return
    names = ", ".join(str(path) for path in unreadable)
    yield Finding(
        "web.root-unreadable",
        "warning",
        f"nginx's workers ({account.pw_name}) cannot read the web client in {root}",
        f"{names}: nginx treats what it cannot open as missing and passes the request to "
        "trytond, which serves the file from the same directory: the web client works, but "
        "every static file costs a trytond worker and gets no caching headers.",
        f"let {account.pw_name} enter the directories and read the files: `tryton-ops deploy "
        f"install` sets <data>/web so (owned by the service user, 0750/0640); by hand, "
        f"chown -R {account.pw_name} {root} and chmod a+x the directories above it.",
    )
