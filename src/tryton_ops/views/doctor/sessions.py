"""[session] timeouts, and Redis sessions asked for but not in effect."""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.access.database import DatabaseError, activated_modules, connect
from tryton_ops.config.schema import SESSION_MODULE as MODULE
from tryton_ops.config.schema import Sessions
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding

DAY = 86400


def _int(ctx: Context, option: str, default: int) -> int | None:
    try:
        return int(ctx.conf("session", option, str(default)))
    except ValueError:
        return None


def check(ctx: Context) -> Iterator[Finding]:
    yield from _timeouts(ctx)
    yield from _redis_store(ctx)


def _redis_store(ctx: Context) -> Iterator[Finding]:
    """trytond only uses the Redis store once ops_session is activated in the database."""
    if ctx.part(Sessions).store != "redis":
        return
    name = ctx.database
    try:
        with connect(ctx.config, name) as session:
            active = session.table_exists("ir_module") and MODULE in activated_modules(session)
    except DatabaseError:
        return  # no database yet, or unreachable: the backups check reports the server
    if not active:
        yield Finding(
            "sessions.store-inactive",
            "error",
            f"Redis sessions are configured but {MODULE} is not activated in {name!r}",
            "trytond keeps using its ir_session table: no hashed keys, no exclusive login, "
            "and every request still writes to the database.",
            f"Run `tryton-ops db update -d {name} {MODULE}` (docs/sessions.md).",
        )


def _timeouts(ctx: Context) -> Iterator[Finding]:
    timeout = _int(ctx, "timeout", 300)
    max_age = _int(ctx, "max_age", 30 * DAY)
    if timeout is None or max_age is None:
        yield Finding(
            "sessions.invalid",
            "error",
            "[session] timeout or max_age is not an integer",
            "trytond fails on the first login check.",
            "Give both in seconds.",
        )
        return
    if timeout < 60:
        yield Finding(
            "sessions.timeout-short",
            "warning",
            f"[session] timeout = {timeout} s",
            "Fresh-session checks (password again for sensitive actions) come back constantly.",
            "Use 300 s (the default) or more.",
        )
    if max_age < 300:
        yield Finding(
            "sessions.max-age-short",
            "error",
            f"[session] max_age = {max_age} s",
            "Users are logged out every few minutes.",
            "Use hours to days (default 2592000 = 30 days).",
        )
    elif max_age > 90 * DAY:
        yield Finding(
            "sessions.max-age-long",
            "warning",
            f"[session] max_age = {max_age // DAY} days",
            "A stolen session key stays valid for months.",
            "Keep max_age at 30 days or less.",
        )
    elif max_age < timeout:
        yield Finding(
            "sessions.max-age-below-timeout",
            "warning",
            "[session] max_age is shorter than timeout",
            "Sessions expire before a fresh-session check can ever lapse: the settings "
            "contradict each other.",
            "Make max_age larger than timeout.",
        )
