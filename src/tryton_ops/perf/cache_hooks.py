"""Per-call cache hits and misses: the configured `[cache] class`, subclassed to count.

With the analyzer on, `perf.trytond_conf` sets `[cache] class` to `CountingCache` and keeps the
class it stands in for in `[ops_perf] counted_cache` (none: trytond's MemoryCache), so any cache
class following trytond's cache contract is counted, ours or another. Its `get` asks the parent
with a private sentinel as default, so a hit and a miss are told apart even for a cached
`None`, and reports it to the request's collector. Behaviour is otherwise the parent's own.

trytond resolves this module while `trytond.cache` is half imported: at top level only
`trytond.cache.MemoryCache` (§1.2 of the extension-points notes); the counted class is imported
when `CountingCache` is first looked up. Caches that trytond hard-codes to MemoryCache (the
view validator, report templates) are not counted.
"""

from __future__ import annotations

import importlib

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


def _counted_class() -> type:
    from tryton_ops.perf.options import PerfOptions

    name = PerfOptions.from_trytond().counted_cache
    if not name:
        return MemoryCache
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def __getattr__(name: str):
    if name == "CountingCache":
        base = _counted_class()
        counting = type(
            "CountingCache",
            (CountingMixin, base),
            {"__doc__": f"{base.__module__}.{base.__qualname__}, counted per call."},
        )
        globals()[name] = counting
        return counting
    raise AttributeError(name)
