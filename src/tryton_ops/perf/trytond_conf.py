"""Plugging the analyzer into trytond.conf (a contributor of `config.trytond_conf`).

8.2 takes the SQL timing mixin through `[database] database_mixins`. 8.0 has no such option, so
the URI scheme is switched to a backend registered under the `trytond.backend` entry point
(`postgresqlops://`, `sqliteops://`), which subclasses the stock backend with the same mixin.
"""

from __future__ import annotations

import configparser
from importlib.metadata import version
from urllib.parse import urlsplit, urlunsplit

from tryton_ops.config.trytond_conf import Part, add_middleware, render_section
from tryton_ops.perf.options import PerfOptions

MIXIN = "tryton_ops.perf.sqlhook.PerfDatabaseMixin"
MIDDLEWARE = "tryton_ops.perf.middleware.PerfMiddleware"
OPS_SCHEMES = {"postgresql": "postgresqlops", "sqlite": "sqliteops"}
# the cache classes counting hits and misses per call, by the class they stand in for
COUNTING_MEMORY_CACHE = "tryton_ops.perf.cache_hooks.CountingMemoryCache"
COUNTING_CACHES = {
    "": COUNTING_MEMORY_CACHE,
    "tryton_ops.cache.RedisCache": "tryton_ops.perf.cache_hooks.CountingRedisCache",
}


def custom_cache_class(name: str | None) -> str | None:
    """The `[cache] class` of trytond.conf, None when it is the stock MemoryCache (counted)."""
    return None if not name or name == COUNTING_MEMORY_CACHE else name


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
    render_section(parser, PerfOptions.from_config(config))
    if has_database_mixins():
        mixins = parser.get("database", "database_mixins", fallback="").strip().splitlines()
        if MIXIN not in mixins:
            mixins.append(MIXIN)
        parser.set("database", "database_mixins", "\n".join(m for m in mixins if m))
    else:
        parser.set("database", "uri", ops_uri(parser.get("database", "uri")))
    if not parser.has_section("cache"):
        parser.add_section("cache")
    counting = COUNTING_CACHES.get(parser.get("cache", "class", fallback=""))
    if counting:  # another custom class is left alone (and not counted)
        parser.set("cache", "class", counting)
    add_middleware(parser, "tryton_ops_perf", MIDDLEWARE)


PART = Part("perf", contribute, order=90)  # last: its middleware is the outermost
