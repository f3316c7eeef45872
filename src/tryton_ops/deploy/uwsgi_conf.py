"""Rendering the uWSGI configuration of the app workers (`server.app_server = "uwsgi"`).

uWSGI speaks HTTP here (`http-socket`), not its own protocol: nginx reaches gunicorn and uWSGI
the same way, so the upstream, retry and logging rules of nginx.conf, the readiness check of
`up` and direct access without nginx do not depend on the app server.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.gunicorn_conf import GRACEFUL_TIMEOUT, WORKER_TIMEOUT_MARGIN
from tryton_ops.deploy.log_rotation import logs_dir
from tryton_ops.deploy.programs import WSGI_APP


def render_uwsgi_ini(config: LoadedConfig) -> str:
    server = config.settings.server
    run = config.run_dir
    values: list[tuple[str, object]] = [
        ("strict", "true"),  # an unknown option is an error, not silently ignored
        ("master", "true"),
        ("http-socket", server.listen),
        # http-socket answers HTTP/1.1 but closes the connection after each response: say so,
        # or nginx keeps it for the next request, which then fails (a POST is not retried)
        ("add-header", "Connection: close"),
        ("module", WSGI_APP),
        # the venv of tryton-ops; trytond and the modules are imported from it
        ("home", sys.prefix),
        ("py-sys-executable", sys.executable),
        ("processes", server.workers),
        ("threads", server.threads),
        # trytond loads its pools in threads, the analyzer flushes from one
        ("enable-threads", "true"),
        # each worker imports trytond itself (as gunicorn does): no state shared by fork, and
        # a graceful reload (SIGHUP) loads new code and a new trytond.conf
        ("lazy-apps", "true"),
        # a worker whose database did not load stops uWSGI instead of serving errors
        ("need-app", "true"),
        # SIGTERM (supervisor, systemd) stops gracefully: workers finish their requests (within
        # worker-reload-mercy) as gunicorn's do; SIGHUP reloads, SIGINT/SIGQUIT stop at once
        ("hook-master-start", "unix_signal:15 gracefully_kill_them_all"),
        ("harakiri", server.timeout + WORKER_TIMEOUT_MARGIN),
        ("worker-reload-mercy", GRACEFUL_TIMEOUT),
        ("buffer-size", 32768),  # request headers (session tokens, long URLs)
        ("thunder-lock", "true"),
        ("pidfile", run / "uwsgi.pid"),
        ("vacuum", "true"),  # removes the pid file on exit: `down` never trusts a stale one
        ("logger", f"file:{run / 'logs' / 'server.log'}"),
        ("req-logger", f"file:{run / 'logs' / 'access.log'}"),
    ]
    lines = [
        f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.",
        "[uwsgi]",
    ]
    lines += [f"{key} = {value}" for key, value in values]
    return "\n".join(lines) + "\n"


def write_uwsgi_ini(config: LoadedConfig) -> Path:
    path = config.run_dir / "uwsgi.ini"
    logs_dir(config)
    path.write_text(render_uwsgi_ini(config))
    return path
