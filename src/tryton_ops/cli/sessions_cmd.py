"""`tryton-ops sessions`: who is logged in (Redis sessions), today's counters, ending sessions."""

from __future__ import annotations

from datetime import datetime

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option, table
from tryton_ops.sessions import admin


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@click.group("sessions")
def sessions_group() -> None:
    """Sessions kept in Redis by ops_session (docs/sessions.md)."""


@sessions_group.command("list")
@database_option()
@json_option
@click.pass_context
def list_(ctx: click.Context, database: str | None, as_json: bool) -> None:
    """Users with live sessions or activity today (UTC), with today's counters."""
    rows = admin.list_sessions(get_config(ctx), database)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no sessions")
        return
    shown = [
        {
            **row,
            "addresses": ",".join(row["addresses"]) or "-",
            "newest_login": _when(row["newest_login"]),
            "last_activity": _when(row["last_activity"]),
            **row["today"],
        }
        for row in rows
    ]
    columns = ["login", "sessions", "addresses", "newest_login", "last_activity"]
    click.echo(table(shown, [*columns, "logins", "calls", "logouts", "expired", "ended"]))


@sessions_group.command("kill")
@click.argument("login")
@database_option()
@json_option
@click.pass_context
def kill(ctx: click.Context, login: str, database: str | None, as_json: bool) -> None:
    """End every session of LOGIN at once; their next call asks them to log in again."""
    result = admin.kill(get_config(ctx), login, database)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"{result['ended']} session(s) of {login} ended on {result['database']}")
