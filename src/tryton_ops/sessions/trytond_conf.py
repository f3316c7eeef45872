"""Renders `[sessions]` of tryton-ops.toml into trytond.conf (a `config.trytond_conf` contributor).

`max_age`/`timeout` become trytond's own `[session]` options, whatever the store; with
`store = "redis"` the `[ops_session]` section tells the ops_session module where Redis is.
"""

from __future__ import annotations

import configparser

from tryton_ops.config.loader import ConfigError, LoadedConfig
from tryton_ops.sessions.options import SECTION

MODULE = "ops_session"


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
        return
    spec = config.settings.redis_of("sessions")
    if spec is None:
        raise ConfigError(
            "sessions.store is 'redis' but no Redis is configured: set sessions.redis_uri "
            "or redis.uri (e.g. redis://127.0.0.1:6379/0)"
        )
    if MODULE not in config.settings.database.modules:
        raise ConfigError(
            f"sessions.store is 'redis' but {MODULE!r} is not in database.modules: add it "
            f"(then `tryton-ops db update`) so that trytond uses the Redis store"
        )
    section = {
        "store": "redis",
        "redis_uri": spec.uri,
        "prefix": sessions.key_prefix,
        "exclusive": str(sessions.exclusive),
        "audit": str(sessions.audit),
        "audit_days": str(sessions.audit_days),
        "timeout": str(spec.socket_timeout),
        "connect_timeout": str(spec.connect_timeout),
    }
    if spec.tls_ca_file:
        section["tls_ca_file"] = spec.tls_ca_file
    parser[SECTION] = section
