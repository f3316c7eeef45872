"""pgbouncer in transaction pooling mode breaks NOTIFY-based cache invalidation."""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.perf.trytond_conf import configured_cache_class
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding


def pool_mode(uri: str) -> str | None:
    """pgbouncer's pool_mode when the URI leads to pgbouncer (its admin console), else None."""
    import psycopg

    try:
        with psycopg.connect(uri, dbname="pgbouncer", autocommit=True, connect_timeout=3) as conn:
            rows = conn.execute("SHOW CONFIG").fetchall()
    except psycopg.Error:
        return None  # a plain PostgreSQL (no such database), or no admin access
    for row in rows:
        if row[0] == "pool_mode":
            return str(row[1])
    return None


def check(ctx: Context) -> Iterator[Finding]:
    if ctx.backend != "postgresql" or configured_cache_class(ctx.conf):
        return
    if int(ctx.conf("cache", "clean_timeout", "300") or 300) != 0:
        return
    mode = pool_mode(ctx.conf("database", "uri") or ctx.settings.database.uri)
    if mode in ("transaction", "statement"):
        yield Finding(
            "pgbouncer.notify",
            "error",
            f"NOTIFY cache invalidation through pgbouncer in {mode} pooling",
            "The cache listener's LISTEN lives on a server connection pgbouncer hands to other "
            "clients after each transaction: invalidations are lost and workers serve stale "
            "data.",
            "Point trytond at PostgreSQL directly (or a session-mode pool), or use cache.backend "
            '= "redis".',
        )
