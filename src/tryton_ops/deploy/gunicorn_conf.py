"""Rendering the gunicorn configuration of the app workers."""

from __future__ import annotations

from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.log_rotation import logs_dir
from tryton_ops.deploy.nginx_conf import UPSTREAM_IDLE_S

# gunicorn kills a silent worker after `timeout`; leave trytond's own request timeout room to
# answer 504 first.
WORKER_TIMEOUT_MARGIN = 30
# seconds old workers get to finish their requests on a reload
GRACEFUL_TIMEOUT = 10
# gthread workers keep a connection open this long between requests (sync workers close it):
# longer than nginx keeps its idle ones (its default 2 s raced nginx's reuse: 502 under load)
KEEPALIVE = UPSTREAM_IDLE_S + 5


def render_gunicorn_conf(config: LoadedConfig) -> str:
    server = config.settings.server
    run = config.run_dir
    values = {
        "bind": [server.listen],
        "workers": server.workers,
        "threads": server.threads,
        "worker_class": "gthread" if server.threads > 1 else "sync",
        "timeout": server.timeout + WORKER_TIMEOUT_MARGIN,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "keepalive": KEEPALIVE,
        "pidfile": str(run / "gunicorn.pid"),
        "errorlog": str(run / "logs" / "server.log"),
        "accesslog": str(run / "logs" / "access.log"),
        "capture_output": True,
        "loglevel": server.log_level.lower(),
        "proc_name": f"tryton-ops:{config.settings.name}",
    }
    lines = [f"# Rendered by tryton-ops from {config.source}; edit that file, not this one."]
    lines += [f"{key} = {value!r}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def write_gunicorn_conf(config: LoadedConfig) -> Path:
    path = config.run_dir / "gunicorn.conf.py"
    logs_dir(config)
    path.write_text(render_gunicorn_conf(config))
    return path
