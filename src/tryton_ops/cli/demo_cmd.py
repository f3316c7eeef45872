"""`tryton-ops demo`: the demo workload on the standard Tryton modules (see docs/capacity.md).

Thin: the checks and the load are in tryton_ops.capacity.
"""

from __future__ import annotations

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option


@click.group("demo")
def demo_group() -> None:
    """A realistic demo workload: company, accounts, parties, products, sales, purchases."""


@demo_group.command("load")
@click.option(
    "--scale", "-s", type=int, default=1, show_default=True, help="Size of the workload (>= 1)."
)
@database_option(help="Database to load (default: database.name).")
@click.option("--yes", "-y", is_flag=True, help="Create the database if missing, without asking.")
@json_option
@click.pass_context
def load(ctx: click.Context, scale: int, database: str | None, yes: bool, as_json: bool) -> None:
    """Load the workload at --scale N: N x (20 customers, 5 suppliers, 20 goods, 5 services,
    40 sales, 10 purchases), with invoices posted and shipments done.

    Idempotent: a second run at the same scale adds nothing, a larger scale adds the
    difference. Refuses a database holding records it did not create.
    """
    from tryton_ops.capacity import sizing, workload
    from tryton_ops.lifecycle.progress import NULL, RichReporter

    sizing.check_scale(scale)
    config = get_config(ctx)
    name = database or config.settings.database.name

    def create() -> bool:
        return yes or click.confirm(
            f"database {name!r} does not exist: create it with the workload's modules?",
            err=True,
        )

    result = workload.load(
        config, name, scale, create=create, reporter=NULL if as_json else RichReporter()
    )
    if as_json:
        emit_json(
            {
                "database": result.name,
                "scale": result.scale,
                "previous_scale": result.previous_scale,
                "database_created": result.database_created,
                "created": result.created,
                "totals": sizing.counts(max(scale, result.previous_scale or 0)).as_dict(),
                "seconds": round(result.seconds, 3),
            }
        )
        return
    made = ", ".join(f"{kind}: {n}" for kind, n in result.created.items()) or "nothing (up to date)"
    click.echo(f"loaded {result.name} at scale {scale} in {result.seconds:.1f} s: {made}")
