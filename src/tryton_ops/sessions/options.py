"""The `[ops_session]` section of trytond.conf, parsed once for the module and the CLI alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tryton_ops.config.redis_spec import RedisSpec

SECTION = "ops_session"


def _flag(value: str | None, default: bool) -> bool:
    if value in (None, ""):
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SessionOptions:
    redis_uri: str
    prefix: str = "tryton"
    exclusive: bool = False
    audit: bool = True
    audit_days: int = 30
    timeout: float = 0.5
    connect_timeout: float = 0.5
    tls_ca_file: str | None = None

    @property
    def redis(self) -> RedisSpec:
        return RedisSpec(self.redis_uri, self.tls_ca_file, self.timeout, self.connect_timeout)

    @classmethod
    def parse(cls, get: Callable[[str], str | None]) -> SessionOptions | None:
        """Options from `get(option)`; None when the store is not Redis (stock sessions)."""
        if (get("store") or "database").strip() != "redis":
            return None
        uri = get("redis_uri")
        if not uri:
            raise ValueError(f"[{SECTION}] store = redis needs redis_uri")
        return cls(
            redis_uri=uri,
            prefix=get("prefix") or "tryton",
            exclusive=_flag(get("exclusive"), False),
            audit=_flag(get("audit"), True),
            audit_days=int(get("audit_days") or 30),
            timeout=float(get("timeout") or 0.5),
            connect_timeout=float(get("connect_timeout") or 0.5),
            tls_ca_file=get("tls_ca_file") or None,
        )

    @classmethod
    def from_trytond(cls) -> SessionOptions | None:
        """From trytond's loaded config (inside a trytond process)."""
        from trytond import config

        return cls.parse(lambda option: config.get(SECTION, option))
