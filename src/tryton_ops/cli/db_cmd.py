"""`tryton-ops db`: the databases of the deployment."""

from __future__ import annotations

import click

from tryton_ops.admin.database import list_databases
from tryton_ops.cli.base import emit_json, get_config, json_option


@click.group("db")
def db_group() -> None:
    """Database lifecycle."""


@db_group.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the Tryton databases reachable with the configured URI."""
    names = list_databases(get_config(ctx))
    if as_json:
        emit_json(names)
    else:
        for name in names:
            click.echo(name)
