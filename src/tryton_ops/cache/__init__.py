"""Two-level cache for trytond: in-process L1, shared Redis L2 (docs/cache.md).

`tryton_ops.cache.RedisCache` is loaded lazily so that the CLI and the config renderer can
import this package without importing trytond.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RedisCache"]


def __getattr__(name: str) -> Any:
    if name == "RedisCache":
        from tryton_ops.cache.redis_cache import RedisCache

        return RedisCache
    raise AttributeError(name)
