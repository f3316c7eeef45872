"""One config file, `tryton-ops.toml`, for the whole deployment.

The names below are imported on first use (PEP 562): code that runs inside trytond imports
light modules of this package (`masking`, `redis_spec`) without loading the schema and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tryton_ops.config.loader import ConfigError, LoadedConfig, find_config_file, load_config
    from tryton_ops.config.schema import Settings
    from tryton_ops.config.trytond_conf import render_trytond_conf, write_trytond_conf

_HOMES = {
    "ConfigError": "loader",
    "LoadedConfig": "loader",
    "find_config_file": "loader",
    "load_config": "loader",
    "Settings": "schema",
    "render_trytond_conf": "trytond_conf",
    "write_trytond_conf": "trytond_conf",
}

__all__ = [
    "ConfigError",
    "LoadedConfig",
    "Settings",
    "find_config_file",
    "load_config",
    "render_trytond_conf",
    "write_trytond_conf",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
