"""The analyzer's runtime options, shared by the trytond processes and the CLI.

The CLI derives them from `tryton-ops.toml`; trytond processes read the same values from the
`[ops perf]` section that `perf.trytond_conf.contribute` renders into trytond.conf, so both
sides always agree on where the store is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.perf.durations import parse_duration

SECTION = "ops perf"


@dataclass(frozen=True)
class PerfOptions:
    deployment: str = "default"
    store: str = "file"  # "file" or "redis"
    directory: str = ""
    redis_uri: str | None = None
    redis_tls_ca_file: str | None = None
    max_records: int = 100_000
    max_age_s: int = 7 * 86400
    slow_sql_ms: int = 1000
    slow_rpc_ms: int = 3000
    stack_ms: int = 10
    n1_threshold: int = 10
    max_statements: int = 2000
    buffer_size: int = 10_000
    flush_interval_ms: int = 500
    metrics_token: str | None = None
    # comma-separated networks allowed to read the metrics when no token is set
    metrics_networks: str = "127.0.0.0/8,::1/128"
    profile: str = "false"  # "true": sampling profile (pyinstrument) of full-capture calls
    profile_interval_ms: int = 1

    @property
    def prefix(self) -> str:
        """Redis key prefix: one namespace per deployment."""
        return f"tryton-ops:{self.deployment}:perf"

    @property
    def profiling(self) -> bool:
        return self.profile.strip().lower() in ("1", "true", "yes", "on")

    @property
    def redis(self) -> RedisSpec:
        """The store's Redis (timeouts: RedisSpec's defaults, 1 s)."""
        if not self.redis_uri:
            raise ValueError("the perf store is not Redis")
        return RedisSpec(self.redis_uri, self.redis_tls_ca_file)

    @property
    def path(self) -> Path:
        return Path(self.directory)

    @classmethod
    def from_config(cls, config) -> PerfOptions:
        """From a `LoadedConfig` (tryton-ops side)."""
        settings = config.settings
        perf = settings.perf
        redis = settings.redis_of("perf")
        store = perf.store
        if store == "auto":
            store = "redis" if redis else "file"
        if store == "redis" and not redis:
            raise ValueError("perf.store = 'redis' needs redis.uri")
        redis = redis if store == "redis" else None
        return cls(
            deployment=settings.name,
            store=store,
            directory=str(config.run_dir / "perf"),
            redis_uri=redis and redis.uri,
            redis_tls_ca_file=redis and redis.tls_ca_file,
            max_records=perf.max_records,
            max_age_s=parse_duration(perf.max_age),
            slow_sql_ms=perf.slow_sql_ms,
            slow_rpc_ms=perf.slow_rpc_ms,
            stack_ms=perf.stack_ms,
            n1_threshold=perf.n1_threshold,
            max_statements=perf.max_statements,
            buffer_size=perf.buffer_size,
            flush_interval_ms=perf.flush_interval_ms,
            metrics_token=perf.metrics_token,
            metrics_networks=",".join(settings.front.allowed_networks),
            profile="true" if perf.profile else "false",
            profile_interval_ms=perf.profile_interval_ms,
        )

    def to_ini(self) -> dict[str, str]:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                out[field.name] = str(value)
        return out

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> PerfOptions:
        kwargs = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            raw = values[field.name]
            kwargs[field.name] = int(raw) if field.type == "int" else raw
        return cls(**kwargs)

    @classmethod
    def from_trytond(cls) -> PerfOptions:
        """From trytond.config (inside a trytond process); defaults if the section is absent."""
        from trytond import config

        values = {}
        for field in dataclasses.fields(cls):
            value = config.get(SECTION, field.name, default=None)
            if value is not None:
                values[field.name] = value
        return cls.from_mapping(values)
