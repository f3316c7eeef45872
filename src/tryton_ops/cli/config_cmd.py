"""`tryton-ops config`: write a sample, show the effective config, show rendered trytond.conf."""

from __future__ import annotations

from pathlib import Path

import click

from tryton_ops.cli.base import EXIT_FAILED, emit_json, get_config, json_option
from tryton_ops.config import render_trytond_conf
from tryton_ops.config.loader import sample_text
from tryton_ops.config.masking import mask_value


@click.group("config")
def config_group() -> None:
    """Create and check tryton-ops.toml."""


@config_group.command("init")
@click.argument("path", default="tryton-ops.toml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented sample config to PATH (default ./tryton-ops.toml)."""
    target = Path(path)
    if target.exists() and not force:
        click.secho(f"error: {target} exists; use --force to overwrite it", fg="red", err=True)
        raise SystemExit(EXIT_FAILED)
    target.write_text(sample_text())
    click.echo(f"wrote {target}")


@config_group.command("show")
@json_option
@click.pass_context
def show(ctx: click.Context, as_json: bool) -> None:
    """Print the effective config (file + TRYTON_OPS_* + defaults), secrets masked."""
    config = get_config(ctx)
    data = mask_value("", config.settings.model_dump(mode="json"))
    data["paths"] = {"data": str(config.data_dir), "run": str(config.run_dir)}
    if as_json:
        emit_json({"source": config.source, "env": sorted(config.env_overrides), "settings": data})
        return
    click.echo(f"# source: {config.source}")
    for var in sorted(config.env_overrides):
        click.echo(f"# overridden by {var}")
    _echo_toml(data)


def _echo_toml(data: dict, prefix: str = "") -> None:
    """Scalars, then one table per section; nested tables such as [hosts.NAME] too."""
    for key, value in data.items():
        if value is None:
            click.echo(f"# {key} is unset")
        elif not isinstance(value, dict):
            click.echo(f"{key} = {_toml_value(value)}")
    for section, values in data.items():
        if isinstance(values, dict) and values:
            click.echo(f"\n[{prefix}{section}]")
            _echo_toml(values, f"{prefix}{section}.")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@config_group.command("trytond")
@click.pass_context
def trytond(ctx: click.Context) -> None:
    """Print the trytond.conf rendered from the config (as written into the run directory)."""
    from tryton_ops.config.masking import mask_uri

    text = render_trytond_conf(get_config(ctx))
    click.echo("\n".join(_mask_line(line, mask_uri) for line in text.splitlines()))


def _mask_line(line: str, mask_uri) -> str:
    key, sep, value = line.partition(" = ")
    return f"{key}{sep}{mask_uri(value)}" if sep and "://" in value else line
