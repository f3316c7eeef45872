"""Rendering supervisord.conf: the local supervisor of `tryton-ops up` (restart with back-off)."""

from __future__ import annotations

import configparser
import hashlib
import io
import os
import shlex
import tempfile
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.log_rotation import UMASK
from tryton_ops.deploy.programs import Program

# sockaddr_un holds at most 107 bytes of path
MAX_SOCKET_PATH = 100


def socket_path(config: LoadedConfig) -> Path:
    """The supervisor's control socket: in the run directory, unless that path is too long."""
    path = config.run_dir / "supervisor.sock"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(config.run_dir).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    return base / f"tryton-ops-{digest}.sock"


def render_supervisor_conf(
    config: LoadedConfig, programs: list[Program], common_env: dict[str, str]
) -> str:
    run = config.run_dir
    logs = run / "logs"
    parser = configparser.RawConfigParser()
    parser["unix_http_server"] = {"file": str(socket_path(config)), "chmod": "0700"}
    parser["supervisord"] = {
        "logfile": str(logs / "supervisord.log"),
        "logfile_maxbytes": "10MB",
        "logfile_backups": "3",
        "pidfile": str(run / "supervisord.pid"),
        "nodaemon": "true",
        "directory": str(run),
        "childlogdir": str(logs),
        "umask": f"{UMASK:03o}",  # when supervisord daemonizes; `up` starts it with this umask
    }
    parser["rpcinterface:supervisor"] = {
        "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
    }
    parser["supervisorctl"] = {"serverurl": f"unix://{socket_path(config)}"}
    for program in programs:
        env = {**common_env, **program.env}
        parser[f"program:{program.name}"] = {
            "command": shlex.join(program.argv),
            "environment": ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(env.items())),
            "autostart": "true",
            # restarted after any exit; a program that dies within startsecs is retried with
            # an increasing delay (1 s, 2 s, ...) up to startretries times, then marked FATAL
            "autorestart": "true",
            "startsecs": "3",
            "startretries": "10",
            "stopsignal": program.stop_signal,
            "stopwaitsecs": str(program.stop_wait_s),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": str(logs / f"{program.name}.log"),
            "stdout_logfile_maxbytes": "20MB",
            "stdout_logfile_backups": "3",
            "umask": f"{UMASK:03o}",
        }
    out = io.StringIO()
    out.write(f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.\n")
    parser.write(out)
    return out.getvalue()


def _escape(value: str) -> str:
    return value.replace("%", "%%").replace('"', '\\"')
