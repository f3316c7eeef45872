"""`tryton-ops deploy install`: what `deploy render` writes, put in place and enabled on a host.

Like Frappe's `bench setup production`: the system user and group, the directories with their
owners and modes, the configs in /etc/tryton/<name>/, the systemd units (and the daily backup's
timer), log rotation and a tmpfiles.d entry (the run directory is recreated at boot), units of
programs the config no longer has disabled and removed, then the services started and checked
to answer. Every step compares first and acts only on a difference, so a second run changes
nothing and says so; with `dry_run` each step only says what it would do.

`root` installs into a staged tree (like DESTDIR) instead of `/`: the same files, modes and
owners (from the tree's own /etc/passwd), enabled with `systemctl --root`, nothing started.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.log_rotation import UMASK
from tryton_ops.deploy.nginx_conf import nginx_dir
from tryton_ops.deploy.programs import front_enabled
from tryton_ops.deploy.render import render_files
from tryton_ops.errors import OpsError, UsageError

SYSTEMD_DIR = Path("/etc/systemd/system")
CONF_FILES = ("trytond.conf", "gunicorn.conf.py", "uwsgi.ini", "nginx.conf", "tryton-ops.toml")
NOLOGIN = "/usr/sbin/nologin"
ANSWER_TIMEOUT_S = 90.0


class InstallError(OpsError):
    """A step of the installation failed; the steps before it stay done (rerun to finish)."""


@dataclass(frozen=True)
class Wanted:
    """A file or directory as it should be: owner and group names, mode, content for files."""

    path: Path  # on the host, without the root prefix
    mode: int
    user: str = "root"
    group: str = "root"
    content: str | None = None  # None: a directory


@dataclass
class Installer:
    config: LoadedConfig
    root: Path = Path("/")
    dry_run: bool = False
    changes: list[str] = field(default_factory=list)
    changed_units: bool = False
    changed_conf: bool = False

    # -- where things go ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.settings.name

    @property
    def conf_dir(self) -> Path:
        return Path("/etc/tryton") / self.name

    @property
    def staged(self) -> bool:
        return self.root != Path("/")

    def on_disk(self, path: Path) -> Path:
        return self.root / path.relative_to("/")

    def change(self, what: str, action: Callable[[], object]) -> None:
        self.changes.append(what)
        if not self.dry_run:
            action()

    def run(self, *argv: str) -> str:
        proc = _run(argv)
        if proc.returncode:
            raise InstallError(f"{' '.join(argv)} failed (exit {proc.returncode}): "
                               f"{proc.stderr.strip()[-2000:]}")  # fmt: skip
        return proc.stdout

    # -- accounts -----------------------------------------------------------------------------

    def _lookup(self, database: str, name: str) -> int | None:
        """uid or gid of `name` in the target's account database (NSS on `/`)."""
        if not self.staged:
            try:
                return (pwd.getpwnam(name).pw_uid if database == "passwd"
                        else grp.getgrnam(name).gr_gid)  # fmt: skip
            except KeyError:
                return None
        try:
            lines = self.on_disk(Path("/etc") / database).read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            fields = line.split(":")
            if len(fields) > 2 and fields[0] == name:
                return int(fields[2])
        return None

    def _root_args(self) -> list[str]:
        return ["--root", str(self.root)] if self.staged else []

    def accounts(self) -> None:
        server = self.config.settings.server
        if self._lookup("group", server.group) is None:
            self.change(
                f"create system group {server.group}",
                lambda: self.run("groupadd", "--system", *self._root_args(), server.group),
            )
        if self._lookup("passwd", server.user) is None:
            argv = ["useradd", "--system", *self._root_args(), "--gid", server.group,
                    "--home-dir", str(self.config.data_dir), "--no-create-home",
                    "--shell", NOLOGIN, server.user]  # fmt: skip
            self.change(
                f"create system user {server.user} (group {server.group}, no login, home "
                f"{self.config.data_dir})",
                lambda: self.run(*argv),
            )

    # -- files and directories ----------------------------------------------------------------

    def ensure(self, wanted: Wanted) -> bool:
        """Make `wanted` so; True when something was (or would be) changed."""
        path = self.on_disk(wanted.path)
        uid, gid = self._lookup("passwd", wanted.user), self._lookup("group", wanted.group)
        owner = f"{wanted.mode:04o} {wanted.user}:{wanted.group}"
        try:
            st = path.lstat()
        except FileNotFoundError:
            verb = "create" if wanted.content is None else "write"
            self.change(f"{verb} {wanted.path} ({owner})", lambda: self._put(path, wanted))
            return True
        if wanted.content is not None and path.read_text() != wanted.content:
            self.change(f"update {wanted.path} ({owner})", lambda: self._put(path, wanted))
            return True
        if (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (wanted.mode, uid, gid):
            self.change(f"set {wanted.path} to {owner}", lambda: self._own(path, wanted))
            return True
        return False

    def _put(self, path: Path, wanted: Wanted) -> None:
        _make_parents(path)
        if wanted.content is None:
            path.mkdir(exist_ok=True)
        else:
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(wanted.content)
            self._own(tmp, wanted)
            tmp.replace(path)
            return
        self._own(path, wanted)

    def _own(self, path: Path, wanted: Wanted) -> None:
        uid, gid = self._lookup("passwd", wanted.user), self._lookup("group", wanted.group)
        if uid is None or gid is None:
            raise InstallError(f"{wanted.user}:{wanted.group} does not exist for {wanted.path}")
        os.chown(path, uid, gid)
        path.chmod(wanted.mode)

    def directories(self) -> list[Wanted]:
        server = self.config.settings.server
        account = {"user": server.user, "group": server.group}
        run = self.config.run_dir
        found = [
            Wanted(self.config.data_dir, 0o750, **account),
            Wanted(self.config.backups_dir, 0o700, **account),
            Wanted(run, 0o750, **account),
            Wanted(run / "logs", 0o750, **account),
            Wanted(self.conf_dir, 0o750, group=server.group),
        ]
        if front_enabled(self.config):
            nginx = nginx_dir(self.config)
            found += [Wanted(nginx, 0o750, **account), Wanted(nginx / "tmp", 0o750, **account)]
        return found

    def tmpfiles(self, dirs: list[Wanted]) -> str:
        """systemd-tmpfiles recreates the run directories at boot (/run is a tmpfs)."""
        run = self.config.run_dir
        lines = [
            f"d {d.path} {d.mode:04o} {d.user} {d.group} -"
            for d in dirs
            if d.path == run or d.path.is_relative_to(run)
        ]
        return f"# Rendered by tryton-ops from {self.config.source}.\n" + "\n".join(lines) + "\n"

    def files(self, rendered: dict[str, str], dirs: list[Wanted]) -> list[Wanted]:
        group = self.config.settings.server.group
        found = [
            Wanted(self.conf_dir / name, 0o640, group=group, content=rendered[name])
            for name in CONF_FILES
            if name in rendered
        ]
        found += [
            Wanted(SYSTEMD_DIR / Path(name).name, 0o644, content=text)
            for name, text in sorted(rendered.items())
            if name.startswith("systemd/")
        ]
        found += [
            Wanted(Path("/etc/logrotate.d") / f"tryton-{self.name}", 0o644,
                   content=rendered["logrotate.conf"]),
            Wanted(Path("/etc/tmpfiles.d") / f"tryton-{self.name}.conf", 0o644,
                   content=self.tmpfiles(dirs)),
        ]  # fmt: skip
        return found

    # -- systemd -------------------------------------------------------------------------------

    def stale_units(self, units: set[str]) -> None:
        """Units of an earlier install the config no longer has (fewer queue workers, the
        backup turned off): disabled, stopped and removed."""
        folder = self.on_disk(SYSTEMD_DIR)
        for pattern in (f"tryton-{self.name}-*.service", f"tryton-{self.name}-*.timer"):
            for path in sorted(folder.glob(pattern)):
                if path.name in units:
                    continue

                def remove(path: Path = path) -> None:
                    if self.live:
                        self.run("systemctl", "stop", path.name)
                    self.run("systemctl", "--root", str(self.root), "disable", path.name)
                    path.unlink()

                self.change(f"disable and remove {SYSTEMD_DIR / path.name}", remove)
                self.changed_units = True

    def enable(self, units: list[str]) -> None:
        for unit in units:
            proc = _run(["systemctl", "--root", str(self.root), "is-enabled", unit])
            if proc.stdout.strip() != "enabled":
                self.change(
                    f"enable {unit}",
                    lambda unit=unit: self.run("systemctl", "--root", str(self.root), "enable",
                                               unit),
                )  # fmt: skip

    @property
    def live(self) -> bool:
        """systemd runs this host: units can be started (never for a staged tree)."""
        return not self.staged and Path("/run/systemd/system").is_dir()

    def daemon_reload(self) -> None:
        """systemd reads the unit files again when one changed (or was removed)."""
        if self.changed_units:
            self.change("systemctl daemon-reload", lambda: self.run("systemctl", "daemon-reload"))

    def start(self, services: list[str], timers: list[str]) -> None:
        for unit in [*services, *timers]:
            active = _run(["systemctl", "is-active", "--quiet", unit]).returncode == 0
            if not active:
                self.change(f"start {unit}", lambda unit=unit: self.systemctl("start", unit))
            elif (self.changed_conf or self.changed_units) and unit in services:
                self.change(
                    f"restart {unit} (its files changed)",
                    lambda unit=unit: self.systemctl("restart", unit),
                )

    def systemctl(self, verb: str, unit: str) -> None:
        """Start or restart `unit`, from a clean slate (a unit that failed before may have hit
        its start limit); a failure shows the end of its journal."""
        _run(["systemctl", "reset-failed", unit])
        try:
            self.run("systemctl", verb, unit)
        except InstallError as exc:
            journal = _run(["journalctl", "-u", unit, "-n", "15", "--no-pager", "-q"]).stdout
            raise InstallError(f"{exc}\n{journal.rstrip()}") from None


def _run(argv: list[str] | tuple[str, ...]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InstallError(
            f"{argv[0]} not found: deploy install needs systemd and the shadow tools (useradd); "
            "without them, run the rendered supervisord.conf (`tryton-ops deploy render`)"
        ) from None


def _make_parents(path: Path) -> None:
    """Missing parents made 0755 root (/srv, /var/backups/...): the service user must be able
    to walk through them to its own directories."""
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        parent.mkdir()
        parent.chmod(0o755)


def check_paths(config: LoadedConfig) -> None:
    """A production install names its directories: the XDG defaults are the installing
    user's home (root's), which the sandboxed units cannot even read."""
    if config.settings.hosts:
        raise UsageError(
            "deploy install installs a deployment that runs on one machine; with [hosts], "
            "render each host's files with `tryton-ops deploy render --host NAME`"
        )
    paths = config.settings.paths
    relative = [
        f"paths.{key}"
        for key, value in paths
        if value is not None and not value.expanduser().is_absolute()
    ]
    if relative:
        raise UsageError(
            f"{', '.join(relative)} must be absolute for a production install: the units read "
            "a copy of tryton-ops.toml in /etc/tryton/NAME, where a relative path means "
            "something else"
        )
    missing = [key for key in ("data", "run") if getattr(paths, key) is None]
    if missing:
        raise UsageError(
            f"set {' and '.join(f'paths.{key}' for key in missing)} in tryton-ops.toml for a "
            'production install (e.g. data = "/var/lib/tryton", run = "/run/tryton"): '
            "the defaults live in the home directory of the user running tryton-ops"
        )
    front = config.settings.front
    if front_enabled(config) and front.tls and not (front.certificate and front.certificate_key):
        raise UsageError(
            "front.tls is on without front.certificate and front.certificate_key: a production "
            "host needs its certificate (the self-signed one of `up` lives in the run directory)"
        )


def closed_directory(path: Path) -> Path | None:
    """The first directory on the way to `path` that other users cannot enter (root's home
    is 0700): the service user could not start a Python installed below it."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def interpreter_problem() -> str | None:
    """Why the units' Python (this one: its venv and the interpreter it links to) cannot be
    run by the service user, or None."""
    venv_python = Path(sys.executable)
    for path in (venv_python, venv_python.resolve()):
        closed = closed_directory(path)
        if closed is not None:
            return (
                f"the units run {venv_python}, but {closed} is closed to other users (mode "
                f"{stat.S_IMODE(closed.stat().st_mode):04o}): the service user could not start "
                "it; install tryton-ops in a virtualenv it can read (e.g. python3 -m venv "
                "/opt/tryton) and run deploy install with that one"
            )
    return None


def check_root(root: Path) -> None:
    if os.geteuid() != 0:
        raise InstallError(
            "deploy install must run as root: it creates the system user, writes /etc and "
            "enables systemd units (run it with sudo; `deploy render` needs no privilege)"
        )
    if not root.is_absolute() or not root.is_dir():
        raise UsageError(f"--root {root}: not an existing absolute directory")


def answers(url: str, timeout: float = ANSWER_TIMEOUT_S) -> str:
    """trytond's version from `url` once it answers JSON-RPC; InstallError after `timeout`."""
    from tryton_ops.client import Connection, RPCError

    deadline = time.monotonic() + timeout
    with Connection(url, timeout=5, verify=False) as conn:
        while True:
            try:
                return str(conn.call("common.server.version"))
            except RPCError as exc:
                if time.monotonic() > deadline:
                    raise InstallError(
                        f"{url} does not answer after {timeout:.0f} s: {exc}"
                    ) from None
            time.sleep(1)


@dataclass(frozen=True)
class InstallResult:
    changes: list[str]
    dry_run: bool
    started: bool
    answered: dict[str, str]  # url -> trytond version
    not_started_reason: str | None
    notes: list[str] = field(default_factory=list)


def install(config: LoadedConfig, root: Path = Path("/"), dry_run: bool = False) -> InstallResult:
    check_root(root)
    check_paths(config)
    installer = Installer(config, root, dry_run)
    problem = interpreter_problem()
    if problem is not None and not installer.staged:
        raise InstallError(problem)
    old_umask = os.umask(UMASK)
    try:
        services, timers = _put_in_place(installer)
        return _bring_up(installer, services, timers, problem)
    finally:
        os.umask(old_umask)


def _put_in_place(installer: Installer) -> tuple[list[str], list[str]]:
    """Accounts, directories, files, stale units, enabled units; the long-running services
    and the timers (their jobs are started by them)."""
    rendered = render_files(installer.config, installer.conf_dir, base_image="unused")
    installer.accounts()
    dirs = installer.directories()
    for wanted in dirs:
        installer.ensure(wanted)
    for wanted in installer.files(rendered, dirs):
        changed = installer.ensure(wanted)
        if wanted.path.parent == SYSTEMD_DIR:
            installer.changed_units |= changed
        elif wanted.path.parent == installer.conf_dir:
            installer.changed_conf |= changed
    units = {Path(name).name for name in rendered if name.startswith("systemd/")}
    installer.stale_units(units)
    timers = sorted(unit for unit in units if unit.endswith(".timer"))
    jobs = {timer.removesuffix(".timer") + ".service" for timer in timers}
    services = sorted(unit for unit in units if unit.endswith(".service") and unit not in jobs)
    installer.enable([*services, *timers])
    return services, timers


def _bring_up(
    installer: Installer, services: list[str], timers: list[str], problem: str | None
) -> InstallResult:
    """Start and check, when systemd runs this host and the database is there."""
    config, dry_run = installer.config, installer.dry_run
    answered: dict[str, str] = {}
    reason = None
    if installer.staged:
        notes = [problem] if problem is not None else []
        reason = "a staged tree (--root): its units are enabled, nothing runs there"
    else:
        notes = database_notes(config, installer.conf_dir)
        if not installer.live:
            reason = "systemd is not running on this host (the units are enabled)"
        else:
            installer.daemon_reload()
            if notes:  # trytond's workers refuse to start without their database
                reason = "the database is not ready (see the note); then run it again"
            else:
                installer.start(services, timers)
                if not dry_run:
                    answered = _check_answers(config)
    started = reason is None and not dry_run
    return InstallResult(installer.changes, dry_run, started, answered, reason, notes)


def database_notes(config: LoadedConfig, conf_dir: Path) -> list[str]:
    """What the operator still has to do for the database: install does not create it (the
    admin password and the modules are decisions), and it must be made as the service user
    (a SQLite file or attachments owned by root would be read-only to the services)."""
    from tryton_ops.access.database import DatabaseError, database_exists

    name, server = config.settings.database.name, config.settings.server
    try:
        if database_exists(config, name):
            return []
    except DatabaseError as exc:
        return [f"database server not reachable: {exc}"]
    return [
        f"database {name!r} does not exist yet: create it as the service user, "
        f"`runuser -u {server.user} -- {Path(sys.executable).with_name('tryton-ops')} "
        f"-c {conf_dir}/tryton-ops.toml db init`"
    ]


def _check_answers(config: LoadedConfig) -> dict[str, str]:
    from tryton_ops.deploy.local_stack import public_url, server_url

    urls = dict.fromkeys([server_url(config), public_url(config)])
    return {url: answers(url) for url in urls}
