"""`tryton-ops doctor`: known pitfalls with severity, explanation and fix."""

from __future__ import annotations

from pathlib import Path

import click

from tryton_ops.cli.base import emit_json, get_config, json_option

COLORS = {"error": "red", "warning": "yellow", "info": "blue"}


@click.command()
@click.option(
    "--trytond-conf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Inspect this trytond.conf (default: the running stack's, else the rendered one).",
)
@json_option
@click.pass_context
def doctor(ctx: click.Context, trytond_conf: Path | None, as_json: bool) -> None:
    """Check the config and the running stack for known pitfalls. Exit 1 on errors."""
    from tryton_ops.views.doctor import Context, exit_code, run

    context = Context(get_config(ctx), trytond_conf=trytond_conf)
    findings = run(context)
    code = exit_code(findings)
    if as_json:
        emit_json(
            {
                "trytond_conf": context.conf_source,
                "findings": [f.as_dict() for f in findings],
                "exit_code": code,
            }
        )
    else:
        click.echo(f"trytond.conf: {context.conf_source}")
        for finding in findings:
            click.secho(f"{finding.severity.upper()}: {finding.title}", fg=COLORS[finding.severity])
            click.echo(f"  [{finding.code}] {finding.explanation}")
            click.echo(f"  fix: {finding.fix}")
        counts = {s: sum(f.severity == s for f in findings) for s in COLORS}
        click.echo(
            "no known pitfall found."
            if not findings
            else f"{counts['error']} error(s), {counts['warning']} warning(s), "
            f"{counts['info']} info"
        )
    if code:
        raise SystemExit(code)
