"""Maintenance mode of one database: the front answers 503 with Retry-After while it is on.

`db update` switches it on for the time it changes the live database, so no worker serves a
half-updated one. The flag is a file per database in `<run>/maintenance/`, written by the CLI
and honoured in two places that both read it on every request: the WSGI entry point of the app
workers (`MaintenanceMiddleware`, found through `TRYTON_OPS_MAINTENANCE` in their environment)
and nginx (`if (-f ...)` in each location, so nginx never marks the upstreams failed for the
503s). Requests that name no database (`/`, static files of sao) pass. The background programs
that write to the database on their own (cron, queue workers) are stopped while it is on and
started again when it goes off.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote

ENV_VAR = "TRYTON_OPS_MAINTENANCE"
RETRY_AFTER_S = 10
BODY = b"maintenance: this database is being updated; retry shortly\n"


def flag_dir(run_dir: Path) -> Path:
    return run_dir / "maintenance"


def flag_file(run_dir: Path, name: str) -> Path:
    return flag_dir(run_dir) / name


def enter(run_dir: Path, name: str, reason: str) -> Path:
    """Switch maintenance on for database `name` (the flag is written atomically)."""
    folder = flag_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = flag_file(run_dir, name)
    tmp = path.with_name(f".{name}.tmp")
    tmp.write_text(json.dumps({"reason": reason, "since": time.time(), "pid": os.getpid()}))
    tmp.replace(path)
    return path


def leave(run_dir: Path, name: str) -> bool:
    """Switch it off; True when it was on."""
    path = flag_file(run_dir, name)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def active(run_dir: Path) -> dict[str, dict]:
    """The databases in maintenance, with why and since when (for `status`)."""
    found = {}
    folder = flag_dir(run_dir)
    for path in sorted(folder.iterdir()) if folder.is_dir() else ():
        if path.name.startswith("."):
            continue
        try:
            found[path.name] = json.loads(path.read_text())
        except (OSError, ValueError):
            found[path.name] = {}
    return found


def nginx_rule(run_dir: Path) -> str:
    """The lines of an nginx location that answer 503 while the request's database is in
    maintenance (the first path segment is the database, as in trytond's URLs)."""
    folder = flag_dir(run_dir)
    return (
        f'            if (-f "{folder}/$ops_database") {{ return 503; }}\n'
        "            error_page 503 @maintenance;"
    )


def nginx_server_parts() -> tuple[str, str]:
    """(the http-level map from URL to database, the named location answering 503)."""
    mapping = """    map $uri $ops_database {
        default "";
        "~^/(?<db>[^/.][^/]*)/" $db;
    }
"""
    location = f"""        location @maintenance {{
            default_type text/plain;
            add_header Retry-After {RETRY_AFTER_S} always;
            return 503 "{BODY.decode().strip()}\\n";
        }}"""
    return mapping, location


def database_of(path_info: str) -> str:
    """The database a trytond URL names (`/<db>/...`), or "" for none."""
    first = path_info.lstrip("/").split("/", 1)[0]
    name = unquote(first)
    return "" if name in ("", ".", "..") or "/" in name else name


class MaintenanceMiddleware:
    """503 + Retry-After for the requests of a database in maintenance; one stat per request."""

    def __init__(self, app: Callable, folder: str) -> None:
        self.app = app
        self.folder = folder

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        name = database_of(environ.get("PATH_INFO", ""))
        if name and os.path.exists(os.path.join(self.folder, name)):
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "text/plain"),
                    ("Retry-After", str(RETRY_AFTER_S)),
                    ("Content-Length", str(len(BODY))),
                ],
            )
            return [BODY]
        return self.app(environ, start_response)


def install(app) -> None:
    """Put trytond's application `app` behind the maintenance check (outermost, so a request
    in maintenance costs nothing else) when the environment names the flag folder."""
    folder = os.environ.get(ENV_VAR)
    if folder:
        app.wsgi_app = MaintenanceMiddleware(app.wsgi_app, folder)
