"""`tryton-ops deploy render`: every file a host needs, written idempotently and validated."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tryton_ops.config import LoadedConfig, render_trytond_conf
from tryton_ops.config.loader import sample_text
from tryton_ops.deploy.container import render_compose, render_containerfile
from tryton_ops.deploy.gunicorn_conf import render_gunicorn_conf
from tryton_ops.deploy.hosts import (
    get_host,
    host_config,
    render_pg_hba,
    render_redis_conf,
    runs_program,
    runs_trytond,
)
from tryton_ops.deploy.log_rotation import logs_dir, render_logrotate
from tryton_ops.deploy.nginx_conf import ensure_certificate, render_nginx_conf
from tryton_ops.deploy.programs import Program, front_enabled, nginx_binary, programs
from tryton_ops.deploy.supervisor_conf import render_supervisor_conf
from tryton_ops.deploy.systemd_units import render_timer, render_unit, timer_name, unit_name
from tryton_ops.deploy.uwsgi_conf import render_uwsgi_ini
from tryton_ops.errors import OpsError


class RenderError(OpsError):
    """A rendered file is invalid; the message holds the validator's output."""


@dataclass(frozen=True)
class Rendered:
    path: Path
    changed: bool


# they may hold database or Redis passwords
PRIVATE = {"trytond.conf", "supervisord.conf", "tryton-ops.toml", "redis.conf"}


def render_files(
    config: LoadedConfig,
    out: Path,
    base_image: str,
    wheels: str | None = None,
    host: str | None = None,
) -> dict[str, str]:
    """Relative path -> content: for this machine, or for `host` of a multi-host deployment."""
    if host is not None:
        return _host_files(config, host, out)
    if config.settings.hosts:
        raise RenderError(
            "tryton-ops.toml describes several hosts: render one with --host NAME (known hosts: "
            f"{', '.join(sorted(config.settings.hosts))})"
        )
    found = programs(config, conf_dir=out.absolute())
    files = {
        "trytond.conf": render_trytond_conf(config),
        **_server_files(config, app=True, bus=config.settings.bus.enabled),
        "Containerfile": render_containerfile(config, base_image, wheels),
        "compose.yaml": render_compose(config),
        # the Containerfile copies it into the image
        "tryton-ops.toml": _source_config(config),
    }
    if front_enabled(config):
        files["nginx.conf"] = render_nginx_conf(config)
    return {**files, **_supervision_files(config, found)}


def _host_files(config: LoadedConfig, name: str, out: Path) -> dict[str, str]:
    host = get_host(config, name)
    config = host_config(config, name)
    found = [p for p in programs(config, conf_dir=out.absolute()) if runs_program(host, p.name)]
    files = _supervision_files(config, found) if found else {}
    if runs_trytond(host):
        files["trytond.conf"] = render_trytond_conf(config)
        files.update(_server_files(config, app="app" in host.roles, bus="bus" in host.roles))
    if "front" in host.roles:
        files["nginx.conf"] = render_nginx_conf(config)
    if "db" in host.roles:
        files["pg_hba.conf"] = render_pg_hba(config)
    if "redis" in host.roles:
        files["redis.conf"] = render_redis_conf(config, host)
    return files


def _server_files(config: LoadedConfig, app: bool, bus: bool) -> dict[str, str]:
    """The app server's config (gunicorn or uWSGI); gunicorn's also when the bus runs here."""
    files = {}
    uwsgi = config.settings.server.app_server == "uwsgi"
    if (app and not uwsgi) or bus:
        files["gunicorn.conf.py"] = render_gunicorn_conf(config)
    if app and uwsgi:
        files["uwsgi.ini"] = render_uwsgi_ini(config)
    return files


def _supervision_files(config: LoadedConfig, found: list[Program]) -> dict[str, str]:
    server = config.settings.server
    files = {
        "supervisord.conf": render_supervisor_conf(config, found, {}),
        "logrotate.conf": render_logrotate(config, server.user, server.group),
    }
    for program in found:
        files[f"systemd/{unit_name(config, program)}"] = render_unit(config, program)
        if program.daily is not None:
            files[f"systemd/{timer_name(config, program)}"] = render_timer(config, program)
    return files


def _source_config(config: LoadedConfig) -> str:
    if config.path is not None:
        return config.path.read_text()
    return sample_text()


def write_files(files: dict[str, str], out: Path) -> list[Rendered]:
    """Write only what differs, so a second run changes nothing (idempotent)."""
    results = []
    for relative, content in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        changed = not path.exists() or path.read_text() != content
        if changed:
            mode = 0o600 if relative in PRIVATE else 0o644
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w") as fh:
                fh.write(content)
        results.append(Rendered(path, changed))
    return results


def validate_nginx(config: LoadedConfig, conf: Path) -> None:
    """`nginx -t` on the rendered file, with the prefix it will run with."""
    binary = nginx_binary()
    if binary is None:
        raise RenderError("nginx is not installed here, so nginx.conf cannot be checked")
    ensure_certificate(config)
    prefix = config.run_dir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    logs_dir(config)
    proc = subprocess.run(
        [binary, "-t", "-q", "-p", str(prefix), "-c", str(conf.absolute())],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RenderError(f"nginx -t rejected {conf}:\n{proc.stderr.strip()}")


def render(
    config: LoadedConfig,
    out: Path,
    base_image: str,
    wheels: str | None = None,
    host: str | None = None,
) -> list[Rendered]:
    files = render_files(config, out, base_image, wheels, host)
    results = write_files(files, out)
    if "nginx.conf" in files:
        validate_nginx(config if host is None else host_config(config, host), out / "nginx.conf")
    return results
