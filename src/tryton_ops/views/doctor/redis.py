"""The Redis a cache or session store uses: memory limit and eviction policy, per use.

A cache wants eviction (least recently/frequently used keys go when Redis is full); sessions
must never be evicted (an evicted session logs its user out). Both stores give every key a TTL,
so `volatile-*` policies evict sessions as readily as cache entries: the two need two Redis.
"""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.access.redis import RedisSpec
from tryton_ops.config.schema import Settings
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding
from tryton_ops.views.status import redis_status

EVICTING = ("allkeys-lru", "allkeys-lfu", "volatile-lru", "volatile-lfu", "volatile-ttl")


def uses(settings: Settings, spec: RedisSpec) -> set[str]:
    """Which stores keep their keys in this Redis."""
    found = set()
    if settings.cache.backend == "redis" and settings.redis_uri_of("cache") == spec.uri:
        found.add("cache")
    if settings.sessions.store == "redis" and settings.redis_uri_of("sessions") == spec.uri:
        found.add("sessions")
    if settings.perf_store == "redis" and settings.redis_uri_of("perf") == spec.uri:
        found.add("perf")
    return found


def check(ctx: Context) -> Iterator[Finding]:
    settings = ctx.config.settings
    for spec in settings.redis_specs():
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
        used_by = uses(settings, spec)
        policy = info.get("maxmemory_policy")
        if {"cache", "sessions"} <= used_by:
            yield _shared(where, policy)
        elif "sessions" in used_by:
            yield from _sessions(where, policy)
        else:
            yield from _cache(where, info.get("maxmemory"), policy)


def _shared(where: str, policy: str | None) -> Finding:
    return Finding(
        "redis.cache-and-sessions",
        "error",
        f"Redis {where} holds both the cache and the sessions (policy {policy!r})",
        "No eviction policy suits both: the cache needs eviction or a full Redis refuses its "
        "writes, while an evicted session logs its user out at random. volatile-* does not "
        "separate them: cache entries and sessions both carry a TTL.",
        "Give the sessions their own Redis (sessions.redis_uri, `maxmemory-policy "
        "noeviction`) and keep an LRU/LFU policy (allkeys-lru) on the cache's.",
    )


def _sessions(where: str, policy: str | None) -> Iterator[Finding]:
    if policy in EVICTING:
        yield Finding(
            "redis.evicts-sessions",
            "error",
            f"Redis {where} holds sessions and evicts with policy {policy!r}",
            "When it is full Redis drops keys, sessions among them: users are logged out at "
            "random. Sessions already end by their own TTL (sessions.max_age).",
            "Set maxmemory-policy noeviction on this Redis (and a maxmemory with room for every "
            "open session, or none); keep the cache on another Redis.",
        )


def _cache(where: str, maxmemory: int | None, policy: str | None) -> Iterator[Finding]:
    if not maxmemory:
        yield Finding(
            "redis.no-maxmemory",
            "warning",
            f"Redis {where} has no memory limit",
            "A cache without maxmemory grows until the host runs out of memory.",
            "Set maxmemory (e.g. `maxmemory 512mb` in redis.conf, or CONFIG SET maxmemory).",
        )
    if policy not in EVICTING:
        yield Finding(
            "redis.eviction-policy",
            "warning" if policy != "noeviction" else "error",
            f"Redis {where} evicts with policy {policy!r}",
            "With noeviction a full Redis refuses writes; other policies may drop keys "
            "without regard to use. A cache wants least-recently/frequently-used eviction.",
            "Set maxmemory-policy allkeys-lru (or allkeys-lfu): this Redis holds no sessions.",
        )
