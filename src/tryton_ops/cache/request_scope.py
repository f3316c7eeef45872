"""The HTTP request a thread is serving, for `RedisCache` to read one generation view per request.

trytond runs 2-3 transactions per RPC (session check, the call, the session reset) and starts the
call's transaction without the request in its context, so only a marker set around the whole
request lets all of them share one Redis round trip. `RequestScope` is the `[wsgi middleware]`
factory that sets it; tryton-ops renders it into trytond.conf with `[cache] backend = "redis"`.
Without it (trytond served some other way) RedisCache falls back to the `_request` context that
trytond passes to the session transactions. Importing this module must stay cheap and
side-effect free: `tryton_ops.cache.redis_cache` imports it while `trytond.cache` is loading.
"""

from __future__ import annotations

import threading

_local = threading.local()


def current() -> object | None:
    """The marker of the request this thread is serving; None outside a request."""
    return getattr(_local, "request", None)


class RequestScope:
    """WSGI middleware: a new marker per request, removed when the application returns."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        outer = current()
        _local.request = object()
        try:
            return self.app(environ, start_response)
        finally:
            _local.request = outer
