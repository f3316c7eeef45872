"""The Redis session options a deployment's trytond processes get, for the module and the CLI.

They are the `[sessions]` section (config.schema.Sessions) with its Redis resolved, rendered into
trytond.conf's `[ops_sessions]` and read back through the same model.
"""

from __future__ import annotations

from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.config.schema import Sessions


def redis_sessions(section: Sessions) -> Sessions | None:
    """The section when sessions live in Redis; None for trytond's own ir_session."""
    if section.store != "redis":
        return None
    if not section.redis_uri:
        raise ValueError(f"[{Sessions.TRYTOND_SECTION}] store = redis needs redis_uri")
    return section


def from_trytond() -> Sessions | None:
    """Inside a trytond process."""
    return redis_sessions(Sessions.from_trytond())


def for_deployment(settings) -> Sessions | None:
    """What `from_trytond` returns in the trytond processes of this deployment (CLI side)."""
    return redis_sessions(settings.with_redis("sessions"))


def redis_spec(section: Sessions) -> RedisSpec:
    """How the store reaches the sessions' Redis."""
    ca_file = str(section.tls_ca_file) if section.tls_ca_file else None
    return RedisSpec(section.redis_uri, ca_file, section.redis_timeout, section.connect_timeout)
