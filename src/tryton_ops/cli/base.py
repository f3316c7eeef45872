"""What every command shares: config loading, error reporting, JSON output, and the options
that mean the same on every command (the global ones, the database).

Global options (`-c/--config`, `-V/--version`) are declared once here; the root group shows
them and every subcommand accepts hidden copies, so `tryton-ops db list -c x.toml` works as
well as `tryton-ops -c x.toml db list`. The database is `-d/--database` on every command that
names one (`database_option`); the spellings it replaced (`--db`, a positional NAME) still work
for one release, with a note on stderr.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import click

from tryton_ops import __version__
from tryton_ops.config import LoadedConfig, load_config
from tryton_ops.errors import EXIT_FAILED, EXIT_USAGE, OpsError

__all__ = ["EXIT_FAILED", "EXIT_USAGE"]

CONFIG_HELP = "tryton-ops.toml to use (default: ./tryton-ops.toml, else the embedded default)."


def _remember_config(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """The root sets the path (given, from the environment, or none); a subcommand's copy
    overrides it only when typed, so the last `-c` on the line wins."""
    if value is not None or ctx.parent is None:
        ctx.find_root().ensure_object(dict)["config_path"] = value


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"tryton-ops, version {__version__}")
        ctx.exit()


def global_options(hidden: bool) -> list[click.Option]:
    """The root group's options; `hidden=True` gives the copies every subcommand accepts."""
    return [
        click.Option(
            ["-V", "--version"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=_print_version,
            hidden=hidden,
            help="Show the version and exit.",
        ),
        click.Option(
            ["-c", "--config", "config_path"],
            type=click.Path(dir_okay=False),
            envvar=None if hidden else "TRYTON_OPS_CONFIG",
            expose_value=False,
            callback=_remember_config,
            hidden=hidden,
            help=CONFIG_HELP,
        ),
    ]


def summary(help_text: str) -> str:
    """The first sentence of the help's first paragraph, whole (click would cut it at 45
    characters or at the first abbreviation), as the command lists show it."""
    paragraph = " ".join(help_text.strip().split("\n\n")[0].replace("\b", "").split())
    match = re.search(r"\.(?=\s+[A-Z`(])", paragraph)
    return paragraph[: match.end()] if match else paragraph


def _adopt(command: click.Command) -> None:
    """Give `command` (and its subcommands) the hidden global options and whole summaries."""
    if getattr(command, "_tryton_ops_adopted", False):
        return
    command._tryton_ops_adopted = True  # type: ignore[attr-defined]
    taken = {name for param in command.params for name in param.opts + param.secondary_opts}
    for option in global_options(hidden=True):
        if not taken.intersection(option.opts):
            command.params.append(option)
    if command.short_help is None and command.help:
        command.short_help = summary(command.help)
    for sub in getattr(command, "commands", {}).values():
        _adopt(sub)


class TrytonOpsGroup(click.Group):
    """The root group: turns the errors users can fix into a message and an exit code, never a
    traceback, and makes the global options work after any subcommand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params[:0] = global_options(hidden=False)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        for command in self.commands.values():
            _adopt(command)
        return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OpsError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)


def get_config(ctx: click.Context) -> LoadedConfig:
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "config" not in obj:
        obj["config"] = load_config(obj.get("config_path"))
    return obj["config"]


# --- the database option ------------------------------------------------------------------

DATABASE_HELP = "Database (default: database.name of the config)."


def deprecated(old: str, new: str) -> None:
    """One note on stderr for a spelling kept for a release; stdout stays clean for scripts."""
    click.echo(f"note: {old} is deprecated and goes in the next release; use {new}", err=True)


class _UnlistedArgument(click.Argument):
    """A positional kept for compatibility: accepted, left out of the usage line."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def database_option(
    *, positional: bool = False, required: bool = False, help: str = DATABASE_HELP
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`-d/--database` passed to the command as `database`, the same on every command.

    The hidden `--db` (and, with `positional=True`, an unlisted positional NAME where the
    command took one before) still work, with a deprecation note. `required=True` makes
    the command refuse to run without a database (never a default for what destroys one).
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            kwargs["database"] = _resolve_database(
                kwargs.pop("database"), kwargs.pop("db_alias"), kwargs.pop("db_positional", None)
            )
            if required and kwargs["database"] is None:
                raise click.UsageError("which database? give it with -d/--database NAME")
            return func(*args, **kwargs)

        if positional:
            wrapper = click.argument(
                "db_positional", required=False, metavar="NAME", cls=_UnlistedArgument
            )(wrapper)
        wrapper = click.option("--db", "db_alias", hidden=True)(wrapper)
        return click.option("-d", "--database", "database", metavar="NAME", help=help)(wrapper)

    return decorate


def _resolve_database(given: str | None, alias: str | None, positional: str | None) -> str | None:
    spelled = [value for value in (given, alias, positional) if value is not None]
    if len(spelled) > 1:
        raise click.UsageError("the database is given twice; give it once, with -d/--database")
    if alias is not None:
        deprecated("--db", "-d/--database")
    if positional is not None:
        deprecated("the database as an argument", f"-d {positional}")
    return spelled[0] if spelled else None


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
