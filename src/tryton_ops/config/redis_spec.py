"""How to reach one Redis: what `Settings.redis_of` answers and `access.redis` connects with.

A plain dataclass in the ground layer (no pydantic, no redis-py), so that the code running
inside trytond workers can build one from trytond.conf as cheaply as the CLI builds one from
tryton-ops.toml.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class RedisSpec:
    """A Redis URI (redis://, rediss://, unix://; the password, if any, inside it) and how
    long to wait for it. `tls_ca_file` is the CA bundle a rediss:// server is verified with
    (None: the system's CAs)."""

    uri: str
    tls_ca_file: str | None = None
    socket_timeout: float = 1.0
    connect_timeout: float = 1.0

    def with_timeout(self, seconds: float) -> RedisSpec:
        """The same Redis with both timeouts set (a probe's own bound)."""
        return dataclasses.replace(self, socket_timeout=seconds, connect_timeout=seconds)
