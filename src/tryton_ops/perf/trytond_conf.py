"""Plugging the analyzer into trytond.conf (a contributor of `config.trytond_conf`).

8.2 takes the SQL timing mixin through `[database] database_mixins`. 8.0 has no such option, so
the URI scheme is switched to a backend registered under the `trytond.backend` entry point
(`postgresqlops://`, `sqliteops://`), which subclasses the stock backend with the same mixin.
"""

from __future__ import annotations

import configparser
from importlib.metadata import version
from urllib.parse import urlsplit, urlunsplit

from tryton_ops.config.trytond_conf import add_middleware
from tryton_ops.perf.options import SECTION, PerfOptions

MIXIN = "tryton_ops.perf.sqlhook.PerfDatabaseMixin"
MIDDLEWARE = "tryton_ops.perf.middleware.PerfMiddleware"
OPS_SCHEMES = {"postgresql": "postgresqlops", "sqlite": "sqliteops"}


def trytond_series() -> tuple[int, int]:
    major, minor = version("trytond").split(".")[:2]
    return int(major), int(minor)


def has_database_mixins() -> bool:
    """`[database] database_mixins` exists from trytond 8.2 on."""
    return trytond_series() >= (8, 2)


def ops_uri(uri: str) -> str:
    """The URI whose scheme selects our timed backend on 8.0."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(scheme=OPS_SCHEMES[parts.scheme]))


def contribute(config, parser: configparser.ConfigParser) -> None:
    perf = config.settings.perf
    if not perf.enabled:
        return
    options = PerfOptions.from_config(config)
    parser[SECTION] = options.to_ini()
    if has_database_mixins():
        mixins = parser.get("database", "database_mixins", fallback="").strip().splitlines()
        if MIXIN not in mixins:
            mixins.append(MIXIN)
        parser.set("database", "database_mixins", "\n".join(m for m in mixins if m))
    else:
        parser.set("database", "uri", ops_uri(parser.get("database", "uri")))
    add_middleware(parser, "tryton_ops_perf", MIDDLEWARE)
