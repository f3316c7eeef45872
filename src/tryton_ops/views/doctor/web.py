"""The web root nginx serves sao from must be readable by nginx's workers.

nginx answers `GET /` from the web root with `try_files ... @tryton`. When its workers cannot
enter a directory on the way, `stat()` fails, the file counts as missing and the request goes
to trytond, which serves the same file from its own `[web] root`: nothing fails, so nobody
notices that the static files bypass nginx (no caching headers, a trytond worker busy with every
script and stylesheet) until the load shows it. A file it can reach but not read is worse: nginx
answers 403 and the web client does not load. (Both seen with nginx 1.22.)
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
