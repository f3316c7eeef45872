"""Rendering the `trytond.conf` that every trytond process of a deployment reads."""

from __future__ import annotations

import configparser
import importlib
import io
import os
from collections.abc import Callable
from pathlib import Path

from tryton_ops.config.loader import LoadedConfig

# Each part that plugs into trytond adds "module:function" here; the function receives the
# LoadedConfig and the ConfigParser and adds its sections. Order matters for middlewares: the
# last one added to `[wsgi middleware]` is the outermost.
CONTRIBUTORS: tuple[str, ...] = (
    "tryton_ops.deploy.trytond_conf:contribute",
    "tryton_ops.cache.trytond_conf:contribute",
    "tryton_ops.accel.trytond_conf:contribute",
    "tryton_ops.debug.trytond_conf:contribute",
    "tryton_ops.sessions.trytond_conf:contribute",
    "tryton_ops.capacity.trytond_conf:contribute",  # sees the calls as the client sent them
    "tryton_ops.perf.trytond_conf:contribute",  # last: its middleware is outermost
)

Contributor = Callable[[LoadedConfig, configparser.ConfigParser], None]


def _contributors() -> list[Contributor]:
    found = []
    for spec in CONTRIBUTORS:
        module, _, name = spec.partition(":")
        found.append(getattr(importlib.import_module(module), name))
    return found


def add_middleware(parser: configparser.ConfigParser, name: str, factory: str) -> None:
    """Append a WSGI middleware (never a `[wsgi <name>]` section: it crashes trytond)."""
    if not parser.has_section("wsgi middleware"):
        parser.add_section("wsgi middleware")
    parser.set("wsgi middleware", name, factory)


def database_path(config: LoadedConfig) -> Path:
    """trytond's `[database] path`: SQLite files and the attachment filestore."""
    return config.data_dir / "db"


def render_trytond_conf(config: LoadedConfig) -> str:
    settings = config.settings
    parser = configparser.ConfigParser(interpolation=None)
    parser["database"] = {
        "uri": settings.database.uri,
        "path": str(database_path(config)),
        "language": settings.database.language,
    }
    parser["web"] = {"listen": settings.server.listen}
    parser["request"] = {"timeout": str(settings.server.timeout)}
    for contribute in _contributors():
        contribute(config, parser)
    out = io.StringIO()
    out.write(f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.\n")
    parser.write(out)
    return out.getvalue()


def write_trytond_conf(config: LoadedConfig) -> Path:
    """Write into the run directory (mode 0600: the URI may hold a password)."""
    path = config.run_dir / "trytond.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(render_trytond_conf(config))
    return path


def trytond_env(config: LoadedConfig, **extra: str) -> dict[str, str]:
    """Environment of a trytond process: our rendered config, no inherited TRYTOND_* settings.

    Inherited `TRYTOND_*` variables are dropped so that what runs is what the config file says.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYTOND_")}
    env["TRYTOND_CONFIG"] = str(write_trytond_conf(config))
    env.update(extra)
    return env
