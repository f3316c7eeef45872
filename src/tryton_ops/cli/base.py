"""What every command shares: config loading, error reporting, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from tryton_ops.config import LoadedConfig, load_config
from tryton_ops.errors import EXIT_FAILED, EXIT_USAGE, OpsError

__all__ = ["EXIT_FAILED", "EXIT_USAGE"]


class TrytonOpsGroup(click.Group):
    """Turns the errors users can fix into a message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OpsError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)


def get_config(ctx: click.Context) -> LoadedConfig:
    root = ctx.find_root()
    if "config" not in root.obj:
        root.obj["config"] = load_config(root.obj.get("config_path"))
    return root.obj["config"]


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max([len(c), *(len(str(r.get(c, ""))) for r in rows)]) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(line.rstrip() for line in lines)
