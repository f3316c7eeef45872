"""The analyzer's options at run time, shared by the trytond processes and the CLI.

They are the `[perf]` section (config.schema.Perf, where every option and default is written)
with the store resolved, plus where this deployment keeps its records. The CLI builds them from
`tryton-ops.toml`; `perf.trytond_conf` renders them into trytond.conf's `[ops_perf]` and the
trytond processes read that back through this same model, so both sides agree on the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator

from tryton_ops.config.durations import parse_duration
from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.config.schema import Front, Name, Network, Perf


class PerfOptions(Perf):
    deployment: Name = Field("default", description="the deployment's name: its store namespace")
    directory: str = Field("", description="file store: the directory of the records")
    metrics_networks: list[Network] = Field(
        default_factory=lambda: Front().allowed_networks,
        description="networks allowed to read the metrics when no token is set",
    )
    redis_tls_ca_file: str | None = Field(None, description="CA bundle of a rediss:// store")
    counted_cache: str | None = Field(
        None, description="the [cache] class counted per call; None: trytond's MemoryCache"
    )

    @model_validator(mode="before")
    @classmethod
    def _resolve_store(cls, values: Any) -> Any:
        """`auto` is Redis when a Redis is named, else files: the runtime knows one store."""
        if isinstance(values, dict) and values.get("store", "auto") == "auto":
            values = {**values, "store": "redis" if values.get("redis_uri") else "file"}
        return values

    @model_validator(mode="after")
    def _redis_store_has_uri(self) -> Self:
        if self.store == "redis" and not self.redis_uri:
            raise ValueError("perf.store = 'redis' needs redis.uri (or perf.redis_uri)")
        return self

    @property
    def max_age_s(self) -> int:
        return parse_duration(self.max_age)

    @property
    def max_capture_s(self) -> int:
        return parse_duration(self.max_capture)

    @property
    def redis(self) -> RedisSpec:
        """The store's Redis (timeouts: RedisSpec's defaults, 1 s)."""
        if not self.redis_uri:
            raise ValueError("the perf store is not Redis")
        return RedisSpec(self.redis_uri, self.redis_tls_ca_file)

    @property
    def prefix(self) -> str:
        """Redis key prefix: one namespace per deployment."""
        return f"tryton-ops:{self.deployment}:perf"

    @property
    def path(self) -> Path:
        return Path(self.directory)

    @property
    def fp_key_path(self) -> Path | None:
        """The fingerprint key's file: configured, else beside file records; None: no key.

        `from_config` always names one; only a hand-made [ops_perf] with a Redis store and
        no `fp_key_file` has none (never a file in the working directory).
        """
        if self.fp_key_file:
            return Path(self.fp_key_file)
        return self.path / "fp-key" if self.directory else None

    @classmethod
    def from_config(cls, config) -> PerfOptions:
        """From a `LoadedConfig` (tryton-ops side): what the deployment's processes read."""
        settings = config.settings
        store = settings.perf_store
        redis = settings.redis_of("perf") if store == "redis" else None
        values = settings.perf.model_dump(exclude_unset=False)
        values.update(
            store=store,
            redis_uri=redis and redis.uri,
            redis_tls_ca_file=redis and redis.tls_ca_file,
            deployment=settings.name,
            directory=str(config.run_dir / "perf"),
            fp_key_file=str(_fp_key_file(config)),
            metrics_networks=list(settings.front.allowed_networks),
        )
        return cls.model_validate(values)


def _fp_key_file(config) -> Path:
    """`[perf] fp_key_file` (relative: to the data directory), else `<data>/perf-fp-key`."""
    configured = config.settings.perf.fp_key_file
    if configured is None:
        return config.data_dir / "perf-fp-key"
    path = configured.expanduser()
    return path if path.is_absolute() else config.data_dir / path
