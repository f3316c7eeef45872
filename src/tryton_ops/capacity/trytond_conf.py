"""Plugging the recorder into trytond.conf (a `tryton_ops.parts` entry point).

Only when `TRYTON_RECORD` is set for the command that renders the config (`tryton-ops up`):
the trytond processes inherit the variable and the recorder writes to that file.
"""

from __future__ import annotations

import configparser
import os

from tryton_ops.capacity.recorder import ENV
from tryton_ops.config.trytond_conf import Part, add_middleware

MIDDLEWARE = "tryton_ops.capacity.recorder.Recorder"


def contribute(config, parser: configparser.ConfigParser) -> None:
    if os.environ.get(ENV):
        add_middleware(parser, "recorder", MIDDLEWARE)


PART = Part("capacity", contribute, order=80)  # inside the analyzer: sees what the client sent
