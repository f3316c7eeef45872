"""Accelerator `view_cache`: let trytond's MemoryCache store values that hold cached values.

`MemoryCache.set` (trytond/cache.py, identical in 8.0 and 8.2) stores `immutable(value)`:
dicts become `MappingProxyType`, lists tuples, sets frozensets, anything else `copy.copy(o)`.
`copy.copy` of a `MappingProxyType` raises `TypeError` ("cannot pickle 'mappingproxy'
object"), which `set` swallows: the value is returned but never stored. A value that embeds a
value read from a cache is therefore never cached. The main victim is `fields_view_get` of
every form with one2many/many2many fields (the party form): its result embeds the sub-views,
which come from the same cache as `MappingProxyType`, so the form is parsed again (XML, field
definitions, access checks, translations, SQL) on every call, cached or not.

The fix makes `immutable` treat a `MappingProxyType` as the dict it shows: an immutable copy
(`MappingProxyType` of a new dict, values made immutable), exactly what stock does with a dict.
It is safe because the stored value is a fresh, deep-enough copy as for any dict, and because
this path ran only when stock raised (nothing that stock caches is stored differently). What a
client sees: the same response, from the cache instead of recomputed.
"""

from __future__ import annotations

from types import MappingProxyType

from tryton_ops.accel.json_response import NotApplicable


def apply() -> None:
    from trytond import cache

    stock = getattr(cache, "immutable", None)
    if stock is None or getattr(stock, "__module__", None) != cache.__name__:
        raise NotApplicable("trytond.cache.immutable is missing or was already replaced")
    try:
        stock(MappingProxyType({}))
    except TypeError:
        pass  # the bug this fixes is there
    else:
        raise NotApplicable("trytond.cache.immutable already copes with MappingProxyType")

    def immutable(o):
        if isinstance(o, MappingProxyType):
            return MappingProxyType({k: immutable(v) for k, v in o.items()})
        return stock(o)  # stock recurses through the module global: this function

    immutable.__tryton_ops_accel__ = "view_cache"
    immutable.__wrapped__ = stock
    cache.immutable = immutable


def is_applied() -> bool:
    from trytond import cache

    return getattr(cache.immutable, "__tryton_ops_accel__", None) == "view_cache"
