"""One config file, `tryton-ops.toml`, for the whole deployment."""

from tryton_ops.config.loader import ConfigError, LoadedConfig, find_config_file, load_config
from tryton_ops.config.schema import Settings
from tryton_ops.config.trytond_conf import render_trytond_conf, write_trytond_conf

__all__ = [
    "ConfigError",
    "LoadedConfig",
    "Settings",
    "find_config_file",
    "load_config",
    "render_trytond_conf",
    "write_trytond_conf",
]
