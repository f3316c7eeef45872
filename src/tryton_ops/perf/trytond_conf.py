"""Plugging the analyzer into trytond.conf (a contributor of `config.trytond_conf`).

8.2 takes the SQL timing mixin through `[database] database_mixins`. 8.0 has no such option, so
the URI scheme is switched to a backend registered under the `trytond.backend` entry point
(`postgresqlops://`, `sqliteops://`), which subclasses the stock backend with the same mixin.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from importlib.metadata import version
from urllib.parse import urlsplit, urlunsplit

from tryton_ops.config.trytond_conf import Part, add_middleware, render_section
from tryton_ops.perf.options import PerfOptions

MIXIN = "tryton_ops.perf.sqlhook.PerfDatabaseMixin"
MIDDLEWARE = "tryton_ops.perf.middleware.PerfMiddleware"
OPS_SCHEMES = {"postgresql": "postgresqlops", "sqlite": "sqliteops"}
# the configured cache class, subclassed to count hits and misses per call
COUNTING_CACHE = "tryton_ops.perf.cache_hooks.CountingCache"


def configured_cache_class(get: Callable[[str, str], str | None]) -> str | None:
    """The cache class trytond runs (behind the counting one); None for stock MemoryCache.

    `get(section, option)` looks an option up in a trytond.conf.
    """
    name = get("cache", "class")
    if name == COUNTING_CACHE:
        name = get(PerfOptions.TRYTOND_SECTION, "counted_cache")
    return name or None


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
    if not parser.has_section("cache"):
        parser.add_section("cache")
    counted = parser.get("cache", "class", fallback="") or None
    parser.set("cache", "class", COUNTING_CACHE)
    options = PerfOptions.from_config(config).model_copy(update={"counted_cache": counted})
    render_section(parser, options)
    if has_database_mixins():
        mixins = parser.get("database", "database_mixins", fallback="").strip().splitlines()
        if MIXIN not in mixins:
            mixins.append(MIXIN)
        parser.set("database", "database_mixins", "\n".join(m for m in mixins if m))
    else:
        parser.set("database", "uri", ops_uri(parser.get("database", "uri")))
    add_middleware(parser, "tryton_ops_perf", MIDDLEWARE)


PART = Part("perf", contribute, order=90)  # outermost but the console (95, /ops/ only)
