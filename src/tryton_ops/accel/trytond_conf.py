"""The accelerators in trytond.conf: the `[ops_accel]` switches and their middleware."""

from __future__ import annotations

import configparser

from tryton_ops.accel.registry import enabled_names
from tryton_ops.config.loader import LoadedConfig
from tryton_ops.config.trytond_conf import Part, add_middleware, render_section

MIDDLEWARE_NAME = "tryton_ops_accel"
MIDDLEWARE_FACTORY = "tryton_ops.accel.middleware.install"


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    """Nothing when no accelerator is enabled: trytond then runs exactly as stock."""
    if not enabled_names(config.settings):
        return
    render_section(parser, config.settings.accel)
    add_middleware(parser, MIDDLEWARE_NAME, MIDDLEWARE_FACTORY)


PART = Part("accel", contribute, order=30)
