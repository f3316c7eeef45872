"""The console in trytond.conf (a `tryton_ops.parts` entry point): `[ops_console]` and its
middleware, the outermost one, so the analyzer does not record the console's own requests."""

from __future__ import annotations

import configparser

from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import Part, add_middleware, render_section
from tryton_ops.console.options import ConsoleOptions

MIDDLEWARE = "tryton_ops.console.middleware.ConsoleMiddleware"


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    if not config.settings.console.enabled:
        return
    render_section(parser, ConsoleOptions.from_config(config))
    add_middleware(parser, "tryton_ops_console", MIDDLEWARE)


PART = Part("console", contribute, order=95)  # after perf (90): outermost
