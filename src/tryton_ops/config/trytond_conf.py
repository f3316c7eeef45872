"""Rendering the `trytond.conf` that every trytond process of a deployment reads."""

from __future__ import annotations

import configparser
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from tryton_ops.config.loader import LoadedConfig
from tryton_ops.config.section import PartSection

PARTS_GROUP = "tryton_ops.parts"
Contributor = Callable[[LoadedConfig, configparser.ConfigParser], None]


@dataclass(frozen=True)
class Part:
    """A part that plugs into trytond, as registered under the `tryton_ops.parts` entry points.

    The registry is the package metadata (pyproject.toml), so config, the ground layer, renders
    trytond.conf without importing any part.
    """

    name: str
    contribute: Contributor
    # rendering order: the last part to add a `[wsgi middleware]` is the outermost one
    order: int


def parts() -> list[Part]:
    """Every registered part, in rendering order."""
    found = [entry.load() for entry in entry_points(group=PARTS_GROUP)]
    return sorted(found, key=lambda part: part.order)


def render_section(parser: configparser.ConfigParser, section: PartSection) -> None:
    """A part's `[ops_<part>]` section, written from its model (read back with from_trytond)."""
    parser[section.TRYTOND_SECTION] = section.trytond_items()


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
    for part in parts():
        part.contribute(config, parser)
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
