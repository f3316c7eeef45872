"""The debug part in trytond.conf (a `tryton_ops.parts` entry point).

`[debug] eval = true` becomes `[ops_debug] eval = true`, read by the ops_debug module and the
runner at call time: evaluation stays off unless the deployment turns it on.
"""

from __future__ import annotations

import configparser

from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import Part, render_section


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    debug = config.settings.debug
    if not debug.eval:
        return  # absent means off: nothing rendered for deployments that do not ask
    render_section(parser, debug)


PART = Part("debug", contribute, order=40)
