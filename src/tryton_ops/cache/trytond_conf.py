"""Renders `[cache]` of tryton-ops.toml into trytond.conf's `[cache]` section."""

from __future__ import annotations

import configparser

from tryton_ops.cache.store import read_signing_key
from tryton_ops.config.loader import ConfigError, LoadedConfig
from tryton_ops.config.trytond_conf import add_middleware

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
    spec = config.settings.redis_of("cache")
    if spec is None:
        raise ConfigError(
            "cache.backend is 'redis' but no Redis is configured: set cache.redis_uri "
            "or redis.uri (e.g. redis://127.0.0.1:6379/0)"
        )
    section["class"] = CLASS
    add_middleware(parser, "tryton_ops_cache", MIDDLEWARE)
    section["redis_uri"] = spec.uri
    section["redis_prefix"] = cache.key_prefix
    section["redis_l1"] = "true" if cache.l1 else "false"
    section["redis_ttl"] = str(cache.ttl)
    section["redis_timeout"] = str(spec.socket_timeout)
    section["redis_connect_timeout"] = str(spec.connect_timeout)
    section["redis_retry_interval"] = str(cache.retry_interval)
    section["redis_commit_lease"] = str(cache.commit_lease)
    if spec.tls_ca_file:
        section["redis_tls_ca_file"] = spec.tls_ca_file
    if cache.signing_key_file:
        try:
            read_signing_key(cache.signing_key_file)  # only its path goes into trytond.conf
        except ValueError as exc:
            raise ConfigError(f"cache.signing_key_file: {exc}") from None
        section["redis_signing_key_file"] = str(cache.signing_key_file)
