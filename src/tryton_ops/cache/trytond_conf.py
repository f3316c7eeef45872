"""The cache part in trytond.conf: trytond's own `[cache]` options and, for Redis, `[ops_cache]`."""

from __future__ import annotations

import configparser

from tryton_ops.cache.store import read_signing_key
from tryton_ops.config.loader import ConfigError, LoadedConfig
from tryton_ops.config.trytond_conf import Part, add_middleware, render_section

CLASS = "tryton_ops.cache.RedisCache"
MIDDLEWARE = "tryton_ops.cache.request_scope.RequestScope"


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    cache = config.settings.cache
    if not parser.has_section("cache"):
        parser.add_section("cache")
    section = parser["cache"]
    section["default"] = str(cache.l1_size)
    if cache.clean_timeout is not None:
        section["clean_timeout"] = str(cache.clean_timeout)
    if cache.backend != "redis":
        return
    if cache.signing_key_file:
        try:
            read_signing_key(cache.signing_key_file)  # only its path goes into trytond.conf
        except ValueError as exc:
            raise ConfigError(f"cache.signing_key_file: {exc}") from None
    section["class"] = CLASS
    add_middleware(parser, "tryton_ops_cache", MIDDLEWARE)
    render_section(parser, config.settings.with_redis("cache"))


PART = Part("cache", contribute, order=20)
