"""`tryton-ops deploy`: render what a host needs to run the deployment."""

from __future__ import annotations

from pathlib import Path

import click

from tryton_ops.cli.base import emit_json, get_config, json_option
from tryton_ops.deploy.render import render

DEFAULT_BASE_IMAGE = "localhost/debian-python:bookworm"


@click.group("deploy")
def deploy_group() -> None:
    """Rendered configs for production hosts."""


@deploy_group.command("render")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory (default: ./deploy-<name>).",
)
@click.option(
    "--base-image",
    default=DEFAULT_BASE_IMAGE,
    show_default=True,
    help="Base image of the Containerfile (needs python3 and python3-venv).",
)
@click.option(
    "--wheels",
    default=None,
    metavar="DIR",
    help="Install from the wheels in DIR (relative to --out, the build context) instead of "
    "a package index.",
)
@click.option(
    "--host",
    "host",
    default=None,
    metavar="NAME",
    help="Render for this host of [hosts] (multi-host deployments).",
)
@json_option
@click.pass_context
def render_cmd(
    ctx: click.Context,
    out: Path | None,
    base_image: str,
    wheels: str | None,
    host: str | None,
    as_json: bool,
) -> None:
    """Write trytond.conf, gunicorn or uWSGI, nginx (checked with nginx -t), supervisord,
    systemd units, a Containerfile and a compose file; with --host, what that host needs.
    Files that did not change are not rewritten."""
    config = get_config(ctx)
    default = f"deploy-{config.settings.name}" + (f"-{host}" if host else "")
    out = out or Path(default)
    results = render(config, out, base_image, wheels, host)
    if as_json:
        emit_json([{"path": str(r.path), "changed": r.changed} for r in results])
        return
    for result in results:
        click.echo(f"{'written  ' if result.changed else 'unchanged'} {result.path}")


@deploy_group.command("install")
@click.option("--dry-run", is_flag=True, help="Change nothing; list every change it would make.")
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=Path("/"),
    show_default=True,
    help="Install into this staged tree instead (like DESTDIR): same files, modes and owners, "
    "units enabled with systemctl --root, nothing started.",
)
@json_option
@click.pass_context
def install_cmd(ctx: click.Context, dry_run: bool, root: Path, as_json: bool) -> None:
    """As root on a production host: the system user ([server] user/group), the data, run,
    log and backup directories with their modes, the configs in /etc/tryton/NAME/, the
    systemd units (and the daily backup's timer), log rotation and a tmpfiles.d entry; the
    units enabled and started, then a check that the server answers. What is already as it
    should be is left alone: a second run changes nothing."""
    from tryton_ops.deploy.install import install

    config = get_config(ctx)
    result = install(config, root, dry_run)
    if as_json:
        emit_json(
            {
                "changes": result.changes,
                "dry_run": result.dry_run,
                "started": result.started,
                "answered": result.answered,
                "not_started": result.not_started_reason,
                "notes": result.notes,
            }
        )
        return
    prefix = "would " if dry_run else ""
    for change in result.changes:
        click.echo(f"{prefix}{change}")
    where = f" under {root}" if root != Path("/") else ""
    if not result.changes:
        click.echo(f"nothing to change: {config.settings.name} is installed as rendered{where}")
    elif dry_run:
        click.echo(f"{len(result.changes)} change(s) to make{where}; nothing was changed")
    else:
        click.echo(f"{len(result.changes)} change(s) made{where}")
    for url, version in result.answered.items():
        click.echo(f"answers: {url} (trytond {version})")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.not_started_reason and not dry_run:
        click.echo(f"not started: {result.not_started_reason}")
