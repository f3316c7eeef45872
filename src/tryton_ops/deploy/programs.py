"""The processes a deployment runs on one host, described once for every way of running them.

The local supervisor (supervisord), systemd units and the container image are all rendered from
this list, so they cannot drift apart.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import write_trytond_conf
from tryton_ops.deploy import maintenance

# the WSGI application every app server loads
WSGI_APP = "tryton_ops.deploy.wsgi:app"


@dataclass(frozen=True)
class Daily:
    """A job run once a day: systemd runs `argv` from a timer at `at` (local HH:MM); the local
    supervisor runs the program's own argv, a loop that runs `argv` on the same schedule."""

    at: str
    argv: list[str]


@dataclass(frozen=True)
class Program:
    """One supervised program: what to run, with which extra environment."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "TERM"
    stop_wait_s: int = 15
    reload_signal: str = "HUP"
    daily: Daily | None = None


def bin_path(name: str) -> str:
    """A console script installed beside the running Python (the deployment's venv)."""
    return str(Path(sys.executable).with_name(name))


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def front_enabled(config: LoadedConfig) -> bool:
    front = config.settings.front
    if front.enabled == "auto":
        return config.settings.server.workers > 1 and nginx_binary() is not None
    return front.enabled == "on"


def behind_front(config: LoadedConfig) -> bool:
    """Clients reach trytond through nginx: on this machine, or on the front host of [hosts]."""
    return front_enabled(config) or bool(config.settings.hosts)


def uses_gunicorn(config: LoadedConfig) -> bool:
    """gunicorn runs the app, or the bus (always gunicorn: its gevent worker serves long polls)."""
    return config.settings.server.app_server == "gunicorn" or config.settings.bus.enabled


def uwsgi_binary() -> str:
    """uwsgi of this environment, or an error saying how to install it."""
    binary = bin_path("uwsgi")
    if not Path(binary).exists():
        from tryton_ops.deploy.local_stack import StackError

        raise StackError(
            "server.app_server = 'uwsgi' but uwsgi is not installed in this environment "
            "(pip install 'tryton-ops[uwsgi]'; it compiles with gcc and the Python headers)"
        )
    return binary


def _app_argv(config: LoadedConfig, conf_dir: Path | None, gunicorn_conf: str) -> list[str]:
    if config.settings.server.app_server == "uwsgi":
        from tryton_ops.deploy.uwsgi_conf import write_uwsgi_ini

        binary = uwsgi_binary()
        ini = write_uwsgi_ini(config) if conf_dir is None else conf_dir / "uwsgi.ini"
        return [binary, "--ini", str(ini)]
    return [sys.executable, "-m", "gunicorn", "-c", gunicorn_conf, WSGI_APP]


def nginx_workers_user(run_dir: Path) -> str | None:
    """Whom nginx's workers run as when the local stack runs as root: the run directory's
    owner. Left to nginx they would be nobody, who cannot stat the maintenance flags in the
    0700 run directory: the check fails open and logs a [crit] line on every request."""
    if os.geteuid() != 0:
        return None  # nginx's workers stay this user: `user` applies to a root master only
    try:
        return pwd.getpwuid(run_dir.stat().st_uid).pw_name
    except FileNotFoundError:
        return "root"  # `up` will make it, as this user
    except KeyError:
        return None  # an owner without a name: nginx's default, as before


def nginx_argv(binary: str, config: LoadedConfig, conf: Path, here: bool = True) -> list[str]:
    """nginx in the foreground, for a supervisor; `here`: started on this machine by this user,
    whose root-ness decides the workers' `user` (a rendered program runs elsewhere, later)."""
    from tryton_ops.deploy.nginx_conf import nginx_dir

    directives = "daemon off;"
    workers_user = nginx_workers_user(config.run_dir) if here else None
    if workers_user is not None:
        directives += f" user {workers_user};"
    return [binary, "-p", str(nginx_dir(config)), "-c", str(conf), "-g", directives]


def programs(config: LoadedConfig, conf_dir: Path | None = None) -> list[Program]:
    """Every program of the deployment, app first.

    Without `conf_dir` (the local stack) the configs they read are written into the run
    directory; with it (`deploy render`) the programs point at the files rendered there.
    """
    from tryton_ops.deploy.gunicorn_conf import write_gunicorn_conf
    from tryton_ops.deploy.nginx_conf import write_nginx_conf
    from tryton_ops.deploy.workers import snapshot_file, socket_file, unavailable_reason

    settings = config.settings
    local = conf_dir is None
    trytond_conf = str(write_trytond_conf(config) if local else conf_dir / "trytond.conf")
    gunicorn_conf = ""
    if uses_gunicorn(config):
        gunicorn_conf = str(write_gunicorn_conf(config) if local else conf_dir / "gunicorn.conf.py")
    database = settings.database.name
    base_env = {
        "TRYTOND_CONFIG": trytond_conf,
        "TRYTOND_DATABASE_NAMES": database,
        "TRYTOND_LOGGING_LEVEL": str(logging.getLevelName(settings.server.log_level)),
        maintenance.ENV_VAR: str(maintenance.flag_dir(config.run_dir)),
    }
    found = [
        Program(
            "app",
            _app_argv(config, conf_dir, gunicorn_conf),
            env=base_env,
            stop_wait_s=settings.server.timeout + 10,
        )
    ]
    if unavailable_reason(config) is None:
        # listens on trytond's status socket, so `status` shows the requests in flight
        found.append(
            Program(
                "stat",
                [sys.executable, "-m", "tryton_ops.deploy.workers",
                 str(socket_file(config)), str(snapshot_file(config))],
                stop_wait_s=5,
            )
        )  # fmt: skip
    if front_enabled(config):
        binary = nginx_binary()
        if binary is None:
            from tryton_ops.deploy.local_stack import StackError

            raise StackError(
                "front.enabled = 'on' but nginx is not installed (apt-get install nginx)"
            )
        conf = write_nginx_conf(config) if local else conf_dir / "nginx.conf"
        found.append(
            Program(
                "front",
                nginx_argv(binary, config, conf, here=local),
                stop_signal="QUIT",  # graceful: finish the requests in flight
            )
        )
    if settings.bus.enabled:
        found.append(
            Program(
                "bus",
                [sys.executable, "-m", "gunicorn", "-c", gunicorn_conf,
                 "--bind", settings.bus.listen, "--workers", "1",
                 "--worker-class", "gevent", "--pid", str(config.run_dir / "bus.pid"),
                 WSGI_APP],
                # gevent patches the standard library before trytond is imported
                env={**base_env, "TRYTOND_COROUTINE": "1"},
                stop_wait_s=15,
            )
        )  # fmt: skip
    if settings.cron.enabled:
        found.append(
            Program("cron", [bin_path("trytond-cron"), "-c", trytond_conf, "-d", database])
        )
    if settings.backup.schedule:
        found.append(_backup_program(config, conf_dir))
    for index in range(settings.queue.workers):
        found.append(
            Program(
                f"queue{index}",
                [bin_path("trytond-worker"), "-c", trytond_conf, "-d", database, "-n", "1"],
            )
        )
    return found


def _backup_program(config: LoadedConfig, conf_dir: Path | None) -> Program:
    """`tryton-ops db backup --prune` every day at backup.at, with the deployment's config:
    the file `up` was started with, or the copy `deploy render` writes beside the units."""
    source = config.path if conf_dir is None else conf_dir / "tryton-ops.toml"
    config_args = ["-c", str(source)] if source is not None else []
    job = [sys.executable, "-m", "tryton_ops", *config_args, "db", "backup", "--prune"]
    at = config.settings.backup.at
    stamp = config.run_dir / "backup.stamp"
    loop = [sys.executable, "-m", "tryton_ops.deploy.timer", "--at", at, "--stamp", str(stamp)]
    return Program("backup", [*loop, "--", *job], daily=Daily(at, job))
