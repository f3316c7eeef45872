"""Operator side of the cache: statistics and flush, straight from Redis (no trytond)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tryton_ops.access.redis import delete_prefixed, glob_escape
from tryton_ops.cache.store import BATCH_INDEX, RedisStore, StoreSettings
from tryton_ops.config import LoadedConfig
from tryton_ops.config.masking import mask_uri
from tryton_ops.errors import OpsError

SCAN_LIMIT = 200_000  # keys examined at most by one stats or flush call


class CacheError(OpsError):
    """The cache cannot be inspected or flushed; the message says why."""


def open_store(config: LoadedConfig) -> RedisStore:
    """The cache's store as the operator's commands use it: the workers' Redis, with room for
    the slower SCANs (at least 2 s) and no breaker; errors are `RedisUnavailable`."""
    cache = config.settings.cache
    spec = config.settings.redis_of("cache")
    if cache.backend != "redis" or spec is None:
        raise CacheError(
            'the shared cache is not enabled: set cache.backend = "redis" and a Redis URI '
            "(cache.redis_uri or redis.uri)"
        )
    # the CLI waits longer than a worker and never backs off: one command, one answer
    section = config.settings.with_redis("cache").model_copy(
        update={
            "timeout": max(spec.socket_timeout, 2.0),
            "connect_timeout": max(spec.connect_timeout, 2.0),
        }
    )
    return RedisStore(
        StoreSettings.from_section(
            section,
            cooldown=0.0,
        )
    )


def stats(config: LoadedConfig, database: str | None = None) -> dict[str, Any]:
    """Counters per cache name summed over all processes, L1 sizes, L2 key counts, memory."""
    store = open_store(config)
    db = database or config.settings.database.name
    client = store.client()

    def collect():
        gens = client.hgetall(store.gens_key(db))
        counters = client.hgetall(store.stats_key(db))
        procs = {}
        pattern = glob_escape(f"{store.settings.prefix}:{db}:proc:") + "*"
        for key in client.scan_iter(match=pattern, count=1000):
            procs[key] = client.hgetall(key)
        memory = client.info("memory")
        epoch = gens.get(b"epoch", b"").decode()
        l2: dict[str, int] = defaultdict(int)
        if epoch:
            prefix = store.value_prefix(db, epoch)
            current = {
                k[2:].decode(): int(v)
                for k, v in gens.items()
                if k.startswith(b"g:") and v.isdigit()
            }
            for n, key in enumerate(client.scan_iter(match=glob_escape(prefix) + "*", count=1000)):
                if n >= SCAN_LIMIT:
                    break
                name, gen, last = key.decode()[len(prefix) :].rsplit(":", 2)
                if last != BATCH_INDEX and int(gen) == current.get(name, 0):
                    l2[name] += 1
        return epoch, counters, procs, memory, l2

    epoch, counters, procs, memory, l2 = store._call(collect)
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"hit": 0, "miss": 0, "l1_hit": 0, "l2_hit": 0, "l1_size": 0, "l2_keys": 0}
    )
    for field, value in counters.items():
        name, _, counter = field.decode().partition("\x00")
        rows[name][counter] = int(value)
    for sizes in procs.values():
        for name, size in sizes.items():
            rows[name.decode()]["l1_size"] += int(size)
    for name, count in l2.items():
        rows[name]["l2_keys"] = count
    caches = []
    for name in sorted(rows):
        row = rows[name]
        lookups = row["hit"] + row["miss"]
        row["hit_ratio"] = round(row["hit"] / lookups, 4) if lookups else None
        row["l1_ratio"] = round(row["l1_hit"] / lookups, 4) if lookups else None
        row["l2_ratio"] = round(row["l2_hit"] / lookups, 4) if lookups else None
        caches.append({"name": name, **row})
    return {
        "database": db,
        "redis": mask_uri(store.settings.redis.uri),
        "epoch": epoch or None,
        "processes": len(procs),
        "memory": {
            "used_memory": memory.get("used_memory"),
            "used_memory_human": memory.get("used_memory_human"),
            "maxmemory": memory.get("maxmemory"),
            "maxmemory_policy": memory.get("maxmemory_policy"),
        },
        "caches": caches,
    }


def flush(config: LoadedConfig, database: str | None = None) -> dict[str, Any]:
    """Drop every cached value of the database: a new namespace (O(1)), then delete old keys."""
    store = open_store(config)
    db = database or config.settings.database.name
    client = store.client()
    epoch = store._call(lambda: store.drop(db))
    keep = store.value_prefix(db, epoch).encode()
    pattern = glob_escape(f"{store.settings.prefix}:{db}:v:") + "*"

    def delete_old() -> int:
        deleted = 0
        batch = []
        for n, key in enumerate(client.scan_iter(match=pattern, count=1000)):
            if n >= SCAN_LIMIT:
                break
            if not key.startswith(keep):
                batch.append(key)
            if len(batch) >= 500:
                deleted += client.unlink(*batch)
                batch = []
        if batch:
            deleted += client.unlink(*batch)
        client.delete(store.stats_key(db))
        return deleted

    deleted = store._call(delete_old)
    return {"database": db, "epoch": epoch, "deleted_keys": deleted}


def forget(config: LoadedConfig, database: str) -> int:
    """Delete every key of `database` (values, generations, statistics): it was dropped.

    Returns how many keys were removed.
    """
    store = open_store(config)
    client = store.client()
    prefixes = [f"{store.settings.prefix}:{database}:", f"{store.settings.prefix}:{{{database}}}:"]
    return store._call(lambda: sum(delete_prefixed(client, prefix) for prefix in prefixes))
