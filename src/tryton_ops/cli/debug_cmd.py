"""`tryton-ops inspect | record | eval | pyson | edit`: developer introspection (docs/debug.md).

In process by default (a trytond subprocess on the configured database, no server needed), or
remotely with `--url` through the ops_debug RPC methods (administrators only).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option, table
from tryton_ops.debug import client
from tryton_ops.debug.errors import DebugError


def _target_options(func):
    options = [
        database_option(),
        click.option(
            "--url",
            help="Ask a running server (ops_debug activated) instead of opening the database.",
        ),
        click.option(
            "--login",
            default="admin",
            show_default=True,
            help="The user to act as (in process: whose eval history is kept); with --url: "
            "the administrator to log in as (password from $TRYTON_PASSWORD or a prompt).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


class Backend:
    """Runs actions in process or over RPC, as the options of the command say."""

    def __init__(self, ctx: click.Context, database: str | None, url: str | None, login: str):
        self.ctx, self.database, self.url, self.login = ctx, database, url, login
        self._connection = None

    def __call__(self, action: str, params: dict[str, Any]) -> Any:
        if self.url:
            return client.run_remote(self._connect(), action, params)
        config = get_config(self.ctx)
        return client.run_local(config, action, params, database=self.database, login=self.login)

    def console(self, commit: bool) -> int:
        """The interactive console, in process only (one transaction for the session)."""
        if self.url:
            raise DebugError(
                "the console runs in process (on the config's database); with --url give an "
                "EXPRESSION or -f FILE"
            )
        return client.run_console(get_config(self.ctx), self.database, self.login, commit)

    def _connect(self):
        if self._connection is None:
            from tryton_ops.client import Connection
            from tryton_ops.client.errors import RPCError

            database = self.database or get_config(self.ctx).settings.database.name
            password = os.environ.get("TRYTON_PASSWORD")
            if password is None:
                password = click.prompt(f"password of {self.login}", hide_input=True, err=True)
            connection = Connection(self.url, database)
            try:
                connection.login(self.login, password)
            except RPCError as exc:
                raise DebugError(f"cannot log in to {self.url} as {self.login}: {exc}") from None
            self._connection = connection
        return self._connection


# --- inspect ------------------------------------------------------------------------------


@click.command("inspect")
@click.argument("target", required=False)
@click.option("--checks", is_flag=True, help="Report suspicious overrides (all models or TARGET).")
@click.option("--arch", is_flag=True, help="Print the final architecture of each view.")
@click.option("--no-views", is_flag=True, help="Leave views out (faster).")
@click.option("--all", "everything", is_flag=True, help="Describe every model (timed).")
@_target_options
@json_option
@click.pass_context
def inspect_cmd(ctx, target, checks, arch, no_views, everything, database, url, login, as_json):
    """Models (TARGET a pattern such as 'party*'), a MODEL, or MODEL.METHOD / MODEL.FIELD.

    \b
    tryton-ops inspect party             models whose name contains "party"
    tryton-ops inspect party.party       classes in MRO with module and file:line, fields, views
    tryton-ops inspect party.party.write every override of write, in call order, super() or not
    tryton-ops inspect party.party.name  the field: type, states, domain, depends, where declared
    tryton-ops inspect --checks          signature mismatches and overrides without super()
    """
    run = Backend(ctx, database, url, login)
    if everything:
        data = run("inspect_all", {"views": not no_views})
        if as_json:
            return emit_json(data)
        click.echo(
            f"described {data['models']} models, {data['fields']} fields, {data['views']} views "
            f"in {data['seconds']:.2f} s"
        )
        return None
    if checks:
        data = run("checks", {"model": target} if target else {})
        if as_json:
            return emit_json(data)
        return _print_checks(data)
    data = run("inspect", {"target": target, "views": not no_views, "arch": arch or as_json})
    if as_json:
        return emit_json(data)
    {"models": _print_models, "model": _print_model, "method": _print_method}.get(
        data["kind"], _print_field_result
    )(data)


def _loc(entry: dict[str, Any]) -> str:
    if not entry.get("file"):
        return "?"
    return f"{entry['file']}:{entry['line']}" if entry.get("line") else entry["file"]


def _print_models(data: dict[str, Any]) -> None:
    rows = [
        {
            "model": m["model"],
            "fields": m["fields"],
            "modules": ",".join(m["modules"]),
            "description": m["string"],
        }
        for m in data["models"]
    ]
    click.echo(table(rows, ["model", "fields", "modules", "description"]))
    click.echo(f"{len(rows)} models")


def _print_model(data: dict[str, Any]) -> None:
    click.secho(f"{data['model']}  ({data['string']})", bold=True)
    click.echo(f"modules: {', '.join(data['modules'])}")
    click.secho("\nclasses (method resolution order, the first runs first):", bold=True)
    for cls in data["classes"]:
        module = cls["module"] or "(framework)"
        click.echo(f"  {module:<12} {cls['class']:<55} {_loc(cls)}")
    click.secho(f"\nfields ({len(data['fields'])}):", bold=True)
    for field in data["fields"]:
        _print_field(field, compact=True)
    if data.get("views") is not None:
        click.secho(f"\nviews ({len(data['views'])}):", bold=True)
        for view in data["views"]:
            _print_view(view, 1)


def _flags(field: dict[str, Any]) -> str:
    flags = []
    if field["required"] is True:
        flags.append("required")
    if field["readonly"] is True:
        flags.append("readonly")
    if field["function"]:
        flags.append("function")
    return f" [{', '.join(flags)}]" if flags else ""


def _print_field(field: dict[str, Any], compact: bool) -> None:
    relation = f" -> {field['relation']}" if field.get("relation") else ""
    click.echo(
        f"  {field['name']:<24} {field['type']}{relation}{_flags(field)}  {field['string']!r}"
    )
    pad = " " * 6
    for key, value in field["states"].items():
        click.echo(f"{pad}states.{key}: {value}")
    if field.get("domain"):
        click.echo(f"{pad}domain: {field['domain']}")
    if field["depends"]:
        click.echo(f"{pad}depends: {', '.join(field['depends'])}")
    for key in ("getter", "setter", "searcher", "default"):
        ref = field.get(key)
        if ref:
            click.echo(
                f"{pad}{key}: {ref['method']} ({ref.get('module') or 'framework'}) {_loc(ref)}"
            )
    for key in ("on_change", "on_change_with"):
        ref = field.get(key)
        if ref:
            click.echo(
                f"{pad}{key}: depends on {', '.join(ref['depends']) or '-'}"
                f" ({ref.get('module') or 'framework'}) {_loc(ref)}"
            )
    if not compact:
        if field.get("help"):
            click.echo(f"{pad}help: {field['help']}")
        if field.get("context"):
            click.echo(f"{pad}context: {field['context']}")
        for decl in field.get("declared", []):
            click.echo(f"{pad}declared by {decl['module'] or '(framework)'}: {_loc(decl)}")


def _print_field_result(data: dict[str, Any]) -> None:
    click.secho(f"{data['model']}.{data['field']['name']}", bold=True)
    _print_field(data["field"], compact=False)


def _print_view(view: dict[str, Any], level: int) -> None:
    pad = "  " * level
    where = view.get("file") or f"(in database, id {view['id']})"
    inherit = "" if level == 1 else "inherits ↑ "
    click.echo(
        f"{pad}{view['type'] or '':<8} {inherit}{view['module'] or '-'}/{view['name']}"
        f" priority {view['priority']}  {where}"
    )
    for child in view.get("inherited_by", []):
        _print_view(child, level + 1)
    if view.get("arch"):
        click.echo(view["arch"].rstrip())
    if view.get("arch_error"):
        click.secho(f"{pad}  arch error: {view['arch_error']}", fg="red")


def _print_method(data: dict[str, Any]) -> None:
    click.secho(
        f"{data['model']}.{data['method']}: {len(data['overrides'])} definitions "
        "(call order: the first runs first)",
        bold=True,
    )
    for i, entry in enumerate(data["overrides"], 1):
        chained = {True: "calls super()", False: "NO super()", None: "source unavailable"}[
            entry["calls_super"]
        ]
        click.echo(
            f"  {i}. {entry['module'] or '(framework)':<12} {entry['class']}"
            f"  [{entry['kind']}{entry['signature'] or ''}]"
        )
        click.echo(f"     {_loc(entry)}  {chained}")


def _print_checks(data: dict[str, Any]) -> None:
    for finding in data["findings"]:
        click.echo(
            f"{finding['check']:<10} {finding['model']}.{finding['method']} "
            f"({finding['module']}) {_loc(finding)}\n           {finding['message']}"
            f" [parent: {finding['parent_module'] or 'framework'} {finding['parent']}]"
        )
    click.echo(f"{len(data['findings'])} findings in {data['models']} models")


# --- record -------------------------------------------------------------------------------


@click.command("record")
@click.argument("model")
@click.argument("record_id", type=int)
@click.option("--fields", "field_names", help="Comma-separated fields (default: all readable).")
@click.option(
    "--depth",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Levels of relations to follow (at most [debug] record_max_depth).",
)
@click.option("--user", "user_login", help="Read with the access rights of this login.")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Everything: empty and audit fields, related records' fields, state expressions.",
)
@_target_options
@json_option
@click.pass_context
def record_cmd(
    ctx, model, record_id, field_names, depth, user_login, verbose, database, url, login, as_json
):
    """Read MODEL record RECORD_ID with its function fields, following relations.

    By default a compact view: the fields that hold a value, related records by name, and
    which fields are read-only, invisible or required on this record. -v shows everything.
    """
    params = {"model": model, "id": record_id, "depth": depth, "user": user_login}
    if field_names:
        params["fields"] = [f.strip() for f in field_names.split(",") if f.strip()]
    data = Backend(ctx, database, url, login)("record", params)
    if as_json:
        return emit_json(data)
    if verbose:
        return _print_record(data, 0)
    _print_compact(data, keep_empty=bool(field_names))


AUDIT_FIELDS = frozenset(
    {"id", "rec_name", "create_date", "create_uid", "write_date", "write_uid", "last_modified_at"}
    | {"xml_id"}
)


def _text(value: Any) -> str:
    """One line per value, whatever it holds: booleans true/false, None null, newlines
    escaped, long values cut."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _line(text.replace("\n", "\\n"))


def _line(text: str, limit: int = 100) -> str:
    return text[: limit - 3] + "..." if len(text) > limit else text


def _related(entry: dict[str, Any]) -> str | None:
    """Related records by name (the compact view does not expand their fields)."""
    found = [entry["record"]] if entry.get("record") else entry.get("records")
    if not found:
        return None
    names = [
        f"{sub['model']},{sub['id']}"
        + (f" {sub['rec_name']!r}" if sub.get("rec_name") is not None else "")
        for sub in found[:3]
    ]
    more = len(found) - 3 + entry.get("truncated", 0)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _print_compact(data: dict[str, Any], keep_empty: bool) -> None:
    click.secho(f"{data['model']},{data['id']}  {data.get('rec_name')!r}", bold=True)
    shown = {
        name: entry
        for name, entry in data["fields"].items()
        if keep_empty or (name not in AUDIT_FIELDS and entry["value"] not in (None, "", [], {}))
    }
    width = max([len(entry["type"]) for entry in shown.values()] + [10])
    for name, entry in shown.items():
        related = _related(entry)
        value = _line(related) if related else _text(entry["value"])
        click.echo(f"  {name:<24} {entry['type']:<{width}} {value}")
    by_state: dict[str, list[str]] = {}
    for name, states in data.get("states", {}).items():
        for key, state in states.items():
            if state["value"] is True:
                by_state.setdefault(key, []).append(name)
    for key, names in sorted(by_state.items()):
        listed = [name for name in names if name in shown]
        others = len(names) - len(listed)
        if listed:
            more = f" (+{others} not shown)" if others else ""
            click.echo(f"  {key}: {', '.join(listed)}{more}")
    hidden = len(data["fields"]) - len(shown)
    if hidden:
        click.secho(f"  ({hidden} empty or audit fields not shown; -v shows everything)", dim=True)


def _print_record(data: dict[str, Any], level: int) -> None:
    pad = "    " * level
    if level == 0:
        click.secho(f"{data['model']},{data['id']}  {data.get('rec_name')!r}", bold=True)
    width = max([len(entry["type"]) for entry in data["fields"].values()] + [10])
    for name, entry in data["fields"].items():
        click.echo(f"{pad}  {name:<24} {entry['type']:<{width}} {_text(entry['value'])}")
        nested = [entry["record"]] if entry.get("record") else entry.get("records", [])
        for sub in nested:
            if "fields" in sub:
                click.echo(f"{pad}    -> {sub['model']},{sub['id']} {sub.get('rec_name')!r}")
                _print_record(sub, level + 1)
            else:
                click.echo(f"{pad}    -> {sub['model']},{sub['id']} {sub.get('error', 'seen')}")
    for name, states in data.get("states", {}).items():
        true = [k for k, s in states.items() if s["value"] is True]
        for key in true:
            click.echo(f"{pad}  {name} is {key}: {states[key]['expression']}")


# --- eval ---------------------------------------------------------------------------------


@click.command("eval")
@click.argument("expression", required=False)
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    help="Run this Python file instead of EXPRESSION ('-' for stdin).",
)
@click.option("--commit", is_flag=True, help="Commit the transaction (default: rolled back).")
@click.option("--timeout", type=click.IntRange(1, 3600), help="Seconds before it is stopped.")
@click.option("--history", is_flag=True, help="Your latest evaluations instead.")
@click.option(
    "--console",
    "console",
    is_flag=True,
    help="Interactive console (the default with no EXPRESSION on a terminal).",
)
@_target_options
@json_option
@click.pass_context
def eval_cmd(
    ctx, expression, path, commit, timeout, history, console, database, url, login, as_json
):
    """Run Python against the database with `pool`, `Transaction`, `get(model)` at hand.

    Disabled unless `[debug] eval = true`. The transaction is rolled back unless --commit;
    print() output, the value of the last expression and any exception are shown. With no
    EXPRESSION on a terminal (or --console): an interactive console, one transaction for the
    session, rolled back on exit unless --commit.
    """
    run = Backend(ctx, database, url, login)
    if console or (expression is None and path is None and not history and sys.stdin.isatty()):
        sys.exit(run.console(commit))
    if history:
        rows = run("history", {"limit": 20})
        if as_json:
            return emit_json(rows)
        for row in rows:
            state = "committed" if row["committed"] else "rolled back"
            click.echo(f"#{row['id']} {row['date']} {state} {row['error'] or ''}".rstrip())
            click.echo(textwrap.indent(row["code"].strip()[:200], "    "))
        return None
    if path:
        code, filename = Path(path).read_text(), str(Path(path).resolve())
    elif expression == "-" or (expression is None and not sys.stdin.isatty()):
        code, filename = sys.stdin.read(), "<stdin>"
    elif expression:
        code, filename = expression, "<eval>"
    else:
        raise click.UsageError("give an EXPRESSION, -f FILE, or code on stdin")
    params = {"code": code, "filename": filename, "commit": commit, "timeout": timeout}
    data = run("eval", params)
    if as_json:
        emit_json(data)
    else:
        if data["output"]:
            click.echo(data["output"], nl=not data["output"].endswith("\n"))
        if data["result"] is not None:
            click.echo(data["result"])
        if data["error"]:
            click.secho(data["error"]["traceback"].rstrip(), fg="red", err=True)
        state = "committed" if data["committed"] else "rolled back"
        click.secho(f"({state}, {data['duration'] * 1000:.0f} ms)", dim=True, err=True)
    if data["error"]:
        sys.exit(1)
    return None


# --- pyson --------------------------------------------------------------------------------


@click.group("pyson")
def pyson_group() -> None:
    """Convert and evaluate PYSON (the expressions of states, domains and contexts)."""


@pyson_group.command("encode")
@click.argument("expression")
@_target_options
@json_option
@click.pass_context
def pyson_encode(ctx, expression, database, url, login, as_json):
    """Turn the Python form of a PYSON expression into its JSON form.

    \b
    tryton-ops pyson encode "Eval('state') != 'done'"
    """
    data = Backend(ctx, database, url, login)("pyson", {"op": "encode", "text": expression})
    emit_json(data) if as_json else click.echo(data["json"])


@pyson_group.command("decode")
@click.argument("pyson_json")
@_target_options
@json_option
@click.pass_context
def pyson_decode(ctx, pyson_json, database, url, login, as_json):
    """Turn PYSON JSON into its readable Python form.

    \b
    tryton-ops pyson decode '{"__class__": "Eval", "v": "state", "d": ""}'
    """
    data = Backend(ctx, database, url, login)("pyson", {"op": "decode", "text": pyson_json})
    emit_json(data) if as_json else click.echo(data["readable"])


@pyson_group.command("eval")
@click.argument("text")
@click.option("--model", help="Evaluate against a record of this model (with --id).")
@click.option("--id", "record_id", type=int, help="The record id.")
@click.option("--context", "context_json", help="JSON object of extra names.")
@click.option("--user", "user_login", help="Read the record as this login.")
@_target_options
@json_option
@click.pass_context
def pyson_eval(
    ctx, text, model, record_id, context_json, user_login, database, url, login, as_json
):
    """Evaluate PYSON (JSON or Python form) against a record, a context, or both.

    \b
    tryton-ops pyson eval "Eval('name')" --model party.party --id 1
    tryton-ops pyson eval "Eval('a', 0) + 1" --context '{"a": 41}'
    """
    try:
        context = json.loads(context_json) if context_json else {}
    except json.JSONDecodeError as exc:
        raise DebugError(f"--context is not JSON: {exc}") from None
    if not isinstance(context, dict):
        raise DebugError("--context must be a JSON object")
    params = {
        "op": "eval",
        "text": text,
        "model": model,
        "id": record_id,
        "context": context,
        "user": user_login,
    }
    data = Backend(ctx, database, url, login)("pyson", params)
    emit_json(data) if as_json else click.echo(json.dumps(data["value"], ensure_ascii=False))


# --- edit ---------------------------------------------------------------------------------

EDITOR_LINE = {
    "code": ["--goto", "{file}:{line}"],
    "codium": ["--goto", "{file}:{line}"],
    "subl": ["{file}:{line}"],
}


def editor_command(editor: str, file: str, line: int | None) -> list[str]:
    """vim/nvim/emacs/nano take +LINE FILE; VS Code --goto FILE:LINE."""
    argv = shlex.split(editor)
    name = Path(argv[0]).name
    line = line or 1
    if name in EDITOR_LINE:
        return argv + [a.format(file=file, line=line) for a in EDITOR_LINE[name]]
    return [*argv, f"+{line}", file]


@click.command("edit")
@click.argument("target")
@click.option("--print", "print_only", is_flag=True, help="Print file:line, do not open.")
@_target_options
@click.pass_context
def edit_cmd(ctx, target, print_only, database, url, login):
    """Open $EDITOR at MODEL, MODEL.METHOD (first override that runs) or MODEL.FIELD."""
    where = Backend(ctx, database, url, login)("locate", {"target": target})
    if not where.get("file"):
        raise DebugError(f"no source file for {target}")
    if print_only:
        click.echo(f"{where['file']}:{where['line'] or 1}")
        return
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    sys.exit(subprocess.call(editor_command(editor, where["file"], where["line"])))


COMMANDS = (inspect_cmd, record_cmd, eval_cmd, pyson_group, edit_cmd)
