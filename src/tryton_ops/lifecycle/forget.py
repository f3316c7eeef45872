"""What a dropped database leaves in Redis, removed: cached values, analyzer records and
activations, sessions. A database created later under the same name must start clean (a
stale cache entry or session of the old one would be served to it)."""

from __future__ import annotations

from dataclasses import dataclass

from tryton_ops.access.redis import RedisUnavailable
from tryton_ops.config import LoadedConfig


@dataclass(frozen=True)
class Forgotten:
    part: str  # cache, perf, sessions
    removed: str | None  # what was removed, e.g. "12 keys"; None when it failed
    error: str | None = None


def forget_database(config: LoadedConfig, name: str) -> list[Forgotten]:
    """Remove `name`'s data from every Redis the deployment uses; one line per part that has
    some. A Redis that cannot be reached is reported, not raised: the database is gone either
    way, and the operator learns what is left."""
    settings = config.settings
    steps = []
    if settings.cache.backend == "redis":
        steps.append(("cache", _cache))
    if settings.perf_store == "redis":
        steps.append(("perf", _perf))
    if settings.sessions.store == "redis":
        steps.append(("sessions", _sessions))
    found = []
    for part, step in steps:
        try:
            found.append(Forgotten(part, step(config, name)))
        except RedisUnavailable as exc:
            found.append(Forgotten(part, None, str(exc)))
    return found


def _cache(config: LoadedConfig, name: str) -> str:
    from tryton_ops.cache.admin import forget

    return f"{forget(config, name)} cached key(s)"


def _perf(config: LoadedConfig, name: str) -> str:
    from tryton_ops.perf.forget import forget
    from tryton_ops.perf.options import PerfOptions

    done = forget(PerfOptions.from_config(config), name)
    return f"{done['records']} call record(s), {done['activations']} capture activation(s)"


def _sessions(config: LoadedConfig, name: str) -> str:
    from tryton_ops.sessions.admin import forget

    return f"{forget(config, name)} session(s)"
