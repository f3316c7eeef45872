"""Per-call cache hits and misses: the configured `[cache] class`, subclassed to count.

With the analyzer on, `perf.trytond_conf` sets `[cache] class` to `CountingMemoryCache` (stock
MemoryCache) or `CountingRedisCache` (tryton_ops RedisCache). Their `get` asks the parent with a
private sentinel as default, so a hit and a miss are told apart even for a cached `None`, and
reports it to the request's collector. Behaviour is otherwise the parent's own.

trytond resolves this module while `trytond.cache` is half imported: at top level only
`trytond.cache.MemoryCache` (§1.2 of the extension-points notes); RedisCache is built lazily.
Caches that trytond hard-codes to MemoryCache (the view validator, report templates) are not
counted.
"""

from __future__ import annotations

from trytond.cache import MemoryCache

from tryton_ops.perf.collector import current
from tryton_ops.perf.guard import errors

_MISSING = object()


class CountingMixin:
    """Reports each `get` of the parent class as a hit or a miss."""

    def get(self, key, default=None):
        value = super().get(key, _MISSING)
        collector = current.get()
        if collector is not None:
            try:
                collector.on_cache(self._name, value is not _MISSING)
            except Exception:
                errors.record("cache hook")
        return default if value is _MISSING else value


class CountingMemoryCache(CountingMixin, MemoryCache):
    """trytond's MemoryCache, counted per call."""


def __getattr__(name: str):
    if name == "CountingRedisCache":
        from tryton_ops.cache.redis_cache import RedisCache

        class CountingRedisCache(CountingMixin, RedisCache):
            """tryton_ops RedisCache, counted per call."""

        globals()[name] = CountingRedisCache
        return CountingRedisCache
    raise AttributeError(name)
