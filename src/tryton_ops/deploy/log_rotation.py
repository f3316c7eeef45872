"""The logs directory: private modes, and the rotation of the files programs write themselves.

Logs hold search values, failed login names and client addresses: files 0640 (the deployment's
group may read them) in a 0750 directory. What supervisord captures from a program's output
(`<program>.log`, `supervisord.log`) it rotates itself (supervisor_conf.py); under systemd that
output goes to the journal. The files gunicorn, uWSGI and nginx write themselves are rotated by
the rendered logrotate.conf, with copytruncate: no program needs a signal to reopen them.
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

from tryton_ops.config import LoadedConfig

# the umask of every program and of the supervisor: files 0640, directories 0750
UMASK = 0o027
# written by the programs themselves (not through supervisord), so rotated by logrotate
SELF_WRITTEN = ("server.log", "access.log", "nginx-access.log", "nginx-error.log")
ROTATE_SIZE = "20M"
ROTATE_KEEP = 7


def logs_dir(config: LoadedConfig) -> Path:
    """`<run>/logs`, made (or tightened to) 0750."""
    path = config.run_dir / "logs"
    path.mkdir(mode=0o750, parents=True, exist_ok=True)
    path.chmod(0o750)
    return path


def open_private_log(path: Path):
    """A log file of our own, appended to, 0640 from its creation."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640), "ab")


def current_account() -> tuple[str, str]:
    """The user and group running the local stack: they own its logs."""
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def render_logrotate(config: LoadedConfig, user: str, group: str) -> str:
    """Daily, or sooner once a file passes ROTATE_SIZE when logrotate runs more often."""
    logs = config.run_dir / "logs"
    files = " ".join(str(logs / name) for name in (*SELF_WRITTEN, "supervisord.stderr"))
    return f"""# Rendered by tryton-ops from {config.source}; edit that file, not this one.
# Install as /etc/logrotate.d/tryton-{config.settings.name} (or run it from cron:
# logrotate --state <file> logrotate.conf). supervisord rotates the other files of {logs}.
{files} {{
    su {user} {group}
    daily
    maxsize {ROTATE_SIZE}
    rotate {ROTATE_KEEP}
    missingok
    notifempty
    copytruncate
    compress
    delaycompress
}}
"""
