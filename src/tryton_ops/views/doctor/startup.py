"""How trytond processes start: preloading, config precedence, the [wsgi <name>] crash."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding


def missing_database_names(environs: list[Mapping[str, str]], database: str) -> int:
    """How many app processes do not preload `database`."""
    return sum(
        1
        for env in environs
        if database not in [n.strip() for n in env.get("TRYTOND_DATABASE_NAMES", "").split(",")]
    )


def check(ctx: Context) -> Iterator[Finding]:
    missing = missing_database_names(ctx.app_environs, ctx.database)
    if missing:
        yield Finding(
            "startup.database-names",
            "error",
            f"{missing} app process(es) do not preload database {ctx.database!r}",
            "Without TRYTOND_DATABASE_NAMES the pool of the database is registered empty on the "
            "first request and every login of that process fails with KeyError 'res.user' for "
            "its whole life.",
            f"Start the app with TRYTOND_DATABASE_NAMES={ctx.database} (tryton-ops up does), then "
            "`tryton-ops reload`.",
        )
    wsgi = [
        s for s in ctx.trytond_conf.sections() if s.startswith("wsgi ") and s != "wsgi middleware"
    ]
    env_wsgi = sorted(
        {
            var
            for env in [ctx.environ, *ctx.app_environs]
            for var in env
            if var.startswith("TRYTOND_WSGI_") and not var.startswith("TRYTOND_WSGI_MIDDLEWARE__")
        }
    )
    if wsgi or env_wsgi:
        names = ", ".join([f"[{s}]" for s in wsgi] + env_wsgi)
        yield Finding(
            "startup.wsgi-section",
            "error",
            f"trytond crashes at start on {names}",
            "Any [wsgi <name>] section (or TRYTOND_WSGI_<NAME>__* variable) makes trytond.wsgi "
            "call config.has_option, which does not exist: AttributeError at import, in 8.0 "
            "and 8.2.",
            "Remove the section; give the middleware factory defaults and let it read its own "
            "settings section.",
        )
    overridden = sorted(v for v in ctx.environ if v.startswith("TRYTOND_") and "__" in v)
    if overridden:
        yield Finding(
            "startup.env-ignored",
            "warning",
            f"TRYTOND_* variables in this environment have no effect: {', '.join(overridden)}",
            "tryton-ops starts trytond with the rendered config only and drops inherited "
            "TRYTOND_* variables; and in trytond itself a value in the config file always beats "
            "the TRYTOND_<SECTION>__<OPTION> variable (the file is re-read after the "
            "environment).",
            "Put the setting in tryton-ops.toml (or TRYTON_OPS_<SECTION>__<KEY>) and unset the "
            "TRYTOND_* variable.",
        )
