"""The Redis a cache or session store uses: memory limit and eviction policy."""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding
from tryton_ops.views.status import redis_status

EVICTING = ("allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl")


def check(ctx: Context) -> Iterator[Finding]:
    for spec in ctx.config.settings.redis_specs():
        info = redis_status(spec)
        where = info["uri"]
        if "error" in info:
            yield Finding(
                "redis.unreachable",
                "error",
                f"Redis {where} does not answer",
                f"{info['error']}. While it is down the shared cache is bypassed (slow) and "
                "Redis sessions refuse authenticated calls.",
                "Start Redis or fix the URI (cache.redis_uri / sessions.redis_uri / redis.uri) "
                "or the TLS CA file (redis.tls_ca_file or the part's tls_ca_file).",
            )
            continue
        if not info.get("maxmemory"):
            yield Finding(
                "redis.no-maxmemory",
                "warning",
                f"Redis {where} has no memory limit",
                "A cache without maxmemory grows until the host runs out of memory.",
                "Set maxmemory (e.g. `maxmemory 512mb` in redis.conf, or CONFIG SET maxmemory).",
            )
        policy = info.get("maxmemory_policy")
        if policy not in EVICTING:
            yield Finding(
                "redis.eviction-policy",
                "warning" if policy != "noeviction" else "error",
                f"Redis {where} evicts with policy {policy!r}",
                "With noeviction a full Redis refuses writes; other policies may drop keys "
                "without regard to use. A cache wants least-recently/frequently-used eviction.",
                "Set maxmemory-policy allkeys-lru (or allkeys-lfu).",
            )
