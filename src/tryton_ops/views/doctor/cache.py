"""Cache invalidation across processes with the stock MemoryCache."""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.perf.trytond_conf import configured_cache_class
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding


def check(ctx: Context) -> Iterator[Finding]:
    cache_class = configured_cache_class(ctx.conf)
    if cache_class or ctx.workers < 2:
        return
    clean_timeout = int(ctx.conf("cache", "clean_timeout", "300") or 300)
    if ctx.backend == "sqlite" or clean_timeout != 0:
        yield Finding(
            "cache.stale-multiworker",
            "error",
            f"{ctx.workers} workers share the stock in-process cache with polling invalidation",
            "Each worker keeps its own MemoryCache and learns about another worker's changes "
            f"only by polling ir_cache every clean_timeout = {clean_timeout} s (always on "
            "SQLite). Until then a worker serves stale access rights, views and menus.",
            'Set cache.backend = "redis" (shared cache, immediate invalidation), or on '
            "PostgreSQL cache.clean_timeout = 0 (NOTIFY), or server.workers = 1.",
        )
