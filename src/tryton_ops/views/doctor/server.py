"""Process layout: workers, front, proxies, logging, bus and queue."""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.config.schema import Debug
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding


def check(ctx: Context) -> Iterator[Finding]:
    settings = ctx.settings
    if ctx.backend == "sqlite" and ctx.workers > 1:
        yield Finding(
            "server.sqlite-workers",
            "error",
            f"SQLite with {ctx.workers} workers",
            "SQLite lets one writer in at a time: concurrent requests fail with 'database is "
            "locked', and the stock cache of each worker goes stale (no NOTIFY on SQLite).",
            "Use PostgreSQL for more than one worker, or set server.workers = 1.",
        )
    if ctx.workers > 1 and not ctx.front:
        yield Finding(
            "server.no-front",
            "warning",
            f"{ctx.workers} workers without a front (nginx)",
            "gunicorn's sync workers should not face clients directly: a slow client ties a "
            "worker up, there is no TLS, no static caching, no rate limit on logins.",
            'Install nginx and set front.enabled = "auto" or "on".',
        )
    proxies = int(ctx.conf("web", "num_proxies", "0") or 0)
    if ctx.front and proxies != 1:
        yield Finding(
            "server.num-proxies",
            "error",
            f"nginx is in front but [web] num_proxies = {proxies}",
            "trytond then sees nginx's address as every client's: sessions are bound to the "
            "client address and the login brute-force limits count all users as one.",
            "Set [web] num_proxies = 1 (tryton-ops renders it when the front is enabled); "
            "render and reload.",
        )
    elif not ctx.front and proxies > 0:
        yield Finding(
            "server.num-proxies",
            "error",
            f"no front but [web] num_proxies = {proxies}",
            "trytond trusts X-Forwarded-For: any client can forge its address and escape the "
            "per-address login limits.",
            "Set [web] num_proxies = 0 when clients connect directly.",
        )
    production = ctx.workers > 1 or ctx.front
    if production and settings.server.log_level == "DEBUG":
        yield Finding(
            "server.debug-logging",
            "warning",
            "DEBUG logging on a production-shaped deployment",
            "trytond logs every SQL statement with its parameters at DEBUG: slow, huge logs, "
            "and personal data in them.",
            'Set server.log_level = "INFO" (or WARNING).',
        )
    if production and (settings.debug.eval or ctx.part(Debug).eval):
        yield Finding(
            "server.debug-eval",
            "error",
            "debug code evaluation is enabled on a production-shaped deployment",
            "Anyone with an administrator session can run arbitrary code in the server.",
            "Set [debug] eval = false in tryton-ops.toml (turn it on only on development "
            "deployments), then `tryton-ops reload`.",
        )
    if ctx.conf_bool("bus", "allow_subscribe"):
        if ctx.backend == "sqlite":
            yield Finding(
                "server.bus-sqlite",
                "error",
                "the bus is enabled on SQLite",
                "The long-polling bus relies on PostgreSQL LISTEN/NOTIFY; on SQLite nothing is "
                "ever delivered.",
                "Use PostgreSQL, or disable [bus] allow_subscribe.",
            )
        bus = getattr(settings, "bus", None)
        if bus is None or not bus.enabled:
            yield Finding(
                "server.bus-gevent",
                "error",
                "the bus is enabled without a gevent process to serve it",
                "A bus subscription holds its worker for up to 5 minutes: with sync workers a "
                "few clients block the whole server.",
                "Set bus.enabled = true (a gevent process nginx routes /bus to) or disable "
                "[bus] allow_subscribe.",
            )
    queue_flag = ctx.conf_bool("queue", "worker")
    if settings.queue.workers and not queue_flag:
        yield Finding(
            "server.queue-flag",
            "error",
            f"{settings.queue.workers} queue worker(s) but [queue] worker is not True",
            "trytond-worker exits at once (rc 0) without it, and the web processes run the "
            "tasks inline after each commit.",
            "Set [queue] worker = True in the trytond.conf of every process (tryton-ops renders "
            "it when queue.workers > 0).",
        )
    elif queue_flag and not settings.queue.workers:
        yield Finding(
            "server.queue-flag",
            "error",
            "[queue] worker = True but no queue worker runs",
            "Tasks are only enqueued: nothing ever runs them.",
            "Set queue.workers >= 1, or remove [queue] worker.",
        )
