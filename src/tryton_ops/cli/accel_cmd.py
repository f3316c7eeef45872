"""`tryton-ops accel`: the opt-in accelerators and their state for this config."""

from __future__ import annotations

import click

from tryton_ops.accel import ACCELERATORS, accel_status
from tryton_ops.cli.base import emit_json, get_config, json_option, table


@click.group("accel")
def accel_group() -> None:
    """Opt-in accelerators of trytond hot spots ([accel] in tryton-ops.toml)."""


@accel_group.command("list")
@json_option
@click.option(
    "-v", "--verbose", is_flag=True, help="Also say what each changes and why it is safe."
)
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """List the accelerators: enabled in the config, and applied or refused by trytond.

    STATE is what a trytond started with this config does: on (applied), off (not enabled),
    refused (enabled, but the installed trytond is not a verified version: trytond runs stock).
    """
    rows = accel_status(get_config(ctx).settings)
    if as_json:
        for row in rows:
            accel = ACCELERATORS[row["name"]]
            row.update(changes=accel.changes, safety=accel.safety)
        emit_json(rows)
        return
    for row in rows:
        row["verified"] = ", ".join(row["verified"])
    click.echo(table(rows, ["name", "state", "trytond", "verified", "summary"]))
    if verbose:
        for row in rows:
            accel = ACCELERATORS[row["name"]]
            click.echo(f"\n{accel.name}: patches {accel.target}")
            click.echo(f"  changes: {accel.changes}")
            click.echo(f"  safe because: {accel.safety}")
