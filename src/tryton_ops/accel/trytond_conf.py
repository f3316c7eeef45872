"""Contributor to trytond.conf: the `[tryton_ops_accel]` switches and their middleware."""

from __future__ import annotations

import configparser

from tryton_ops.accel.registry import ACCELERATORS, TRYTOND_SECTION, enabled_names
from tryton_ops.config.loader import LoadedConfig
from tryton_ops.config.trytond_conf import add_middleware

MIDDLEWARE_NAME = "tryton_ops_accel"
MIDDLEWARE_FACTORY = "tryton_ops.accel.middleware.install"


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    """Nothing when no accelerator is enabled: trytond then runs exactly as stock."""
    enabled = enabled_names(config.settings)
    if not enabled:
        return
    parser[TRYTOND_SECTION] = {name: str(name in enabled) for name in ACCELERATORS}
    add_middleware(parser, MIDDLEWARE_NAME, MIDDLEWARE_FACTORY)
