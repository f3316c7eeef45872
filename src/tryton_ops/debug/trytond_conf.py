"""Plugging the debug part into trytond.conf (a contributor of `config.trytond_conf`).

`[debug] eval = true` becomes `[ops_debug] eval = True`, read by the ops_debug module and the
runner at call time: evaluation stays off unless the deployment turns it on.
"""

from __future__ import annotations

import configparser

from tryton_ops.config import LoadedConfig

SECTION = "ops_debug"


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    debug = config.settings.debug
    if not debug.eval:
        return  # absent means off: nothing rendered for deployments that do not ask
    parser[SECTION] = {"eval": "True", "eval_timeout": str(debug.eval_timeout)}
