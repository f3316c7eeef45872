"""The sessions part in trytond.conf (a `tryton_ops.parts` entry point).

`max_age`/`timeout` become trytond's own `[session]` options, whatever the store; with
`store = "redis"` the `[ops_sessions]` section tells the ops_session module where Redis is.
"""

from __future__ import annotations

import configparser

from tryton_ops.config.loader import LoadedConfig
from tryton_ops.config.trytond_conf import Part, render_section


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    sessions = config.settings.sessions
    trytond_session = {
        option: str(value)
        for option, value in (("max_age", sessions.max_age), ("timeout", sessions.timeout))
        if value is not None
    }
    if trytond_session:
        if not parser.has_section("session"):
            parser.add_section("session")
        parser["session"].update(trytond_session)
    if sessions.store != "redis":
        return  # Settings checked that Redis and the ops_session module are there
    render_section(parser, config.settings.with_redis("sessions"))


PART = Part("sessions", contribute, order=50)
