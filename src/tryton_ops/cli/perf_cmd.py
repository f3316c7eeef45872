"""`tryton-ops perf`: the performance analyzer (full capture on demand, reports)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option, table
from tryton_ops.config.durations import format_duration, parse_duration
from tryton_ops.perf import activation, fp_key
from tryton_ops.perf.errors import PerfError
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.report import Filters, find_call, load, parse_time, summarize


def _options(ctx: click.Context) -> PerfOptions:
    try:
        return PerfOptions.from_config(get_config(ctx))
    except ValueError as exc:
        raise PerfError(str(exc)) from None


ANALYZER_OFF = (
    "the analyzer is off: the workers record no calls. Turn it on with `[perf] enabled = true` "
    "in tryton-ops.toml, then `tryton-ops reload`"
)


def _analyzer_off(ctx: click.Context) -> bool:
    return not get_config(ctx).settings.perf.enabled


def _find_call(ctx: click.Context, call_id: str) -> dict:
    """The call, or an error that says why none can be found when the analyzer is off."""
    try:
        return find_call(_options(ctx), call_id)
    except PerfError as exc:
        raise PerfError(f"{exc}; {ANALYZER_OFF}" if _analyzer_off(ctx) else str(exc)) from None


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@click.group("perf")
def perf_group() -> None:
    """Performance analyzer: per-user full capture, reports (see docs/perf.md)."""


@perf_group.command("enable")
@click.option("--user", "login", required=True, help="Login of the user to capture fully.")
@click.option("--for", "duration", default="30m", show_default=True, help="e.g. 30m, 2h, 1d.")
@database_option()
@json_option
@click.pass_context
def enable(ctx, login: str, duration: str, database: str | None, as_json: bool) -> None:
    """Capture every SQL statement of USER's calls until the time runs out."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    if _analyzer_off(ctx):
        raise PerfError(f"nothing would be captured: {ANALYZER_OFF}")
    entry = activation.enable(get_config(ctx), login, seconds, database)
    if as_json:
        emit_json(entry)
    else:
        click.echo(
            f"full capture of {login} (id {entry['uid']}) on {entry['db']} until "
            f"{_when(entry['until'])}; workers pick it up within seconds"
        )


@perf_group.command("disable")
@click.option("--user", "login", help="Login to stop capturing (default: everybody).")
@database_option()
@click.pass_context
def disable(ctx, login: str | None, database: str | None) -> None:
    """Stop full capture."""
    removed = activation.disable(get_config(ctx), login, database)
    if _analyzer_off(ctx):
        click.echo(f"note: {ANALYZER_OFF}", err=True)
    if not removed:
        click.echo("nothing to disable")
    for entry in removed:
        click.echo(f"full capture of {entry['login']} on {entry['db']} stopped")


@perf_group.command("list")
@json_option
@click.pass_context
def list_(ctx, as_json: bool) -> None:
    """Users with full capture on, and until when."""
    entries = activation.list_active(get_config(ctx))
    if _analyzer_off(ctx):
        click.echo(f"note: {ANALYZER_OFF}", err=True)
    if as_json:
        emit_json(entries)
        return
    now = time.time()
    rows = [
        {
            "database": e.get("db"),
            "login": e.get("login"),
            "uid": e.get("uid"),
            "until": "out of range" if e["out_of_range"] else _when(e["until"]),
            "left": "-" if e["out_of_range"] else format_duration(e["until"] - now),
        }
        for e in entries
    ]
    click.echo(table(rows, ["database", "login", "uid", "until", "left"]) if rows else "none")
    if any(e["out_of_range"] for e in entries):
        click.echo(
            "note: an activation ending out of range (beyond perf.max_capture) is ignored by the "
            "workers; remove it with `tryton-ops perf disable --user LOGIN`"
        )


@perf_group.command("rotate-key")
@json_option
@click.pass_context
def rotate_key(ctx, as_json: bool) -> None:
    """Replace the secret key of the call fingerprints (`fp`) with a new random one."""
    options = _options(ctx)  # from the config: always names the key's file
    fp_key.rotate(options.fp_key_path)
    if as_json:
        emit_json({"path": str(options.fp_key_path), "rotated_at": time.time()})
        return
    click.echo(
        f"new fingerprint key in {options.fp_key_path}; workers use it within seconds.\n"
        "Records written before keep their fingerprints: they still group with each other, "
        "but never match a call fingerprinted after the rotation (repeated calls across it are "
        "not found as identical), and the old key, now gone, can no longer test them."
    )


def _filters(ctx, user, session, method, since, until) -> Filters:
    return Filters(
        user=user,
        session=session,
        method=method,
        since=parse_time(since),
        until=parse_time(until),
        user_ids=_user_ids(ctx, user),
    )


def _user_ids(ctx, user: str | None) -> frozenset[tuple[str, int]]:
    """The deployment database's id of login `user`, when it can be looked up (else none)."""
    if not user or user.isdigit():
        return frozenset()
    config = get_config(ctx)
    database = config.settings.database.name
    try:
        return frozenset({(database, activation.resolve_user(config, user, database))})
    except PerfError:
        return frozenset()


filter_options = [
    click.option("--user", help="Login or numeric user id."),
    click.option("--session", help="Session id as shown in reports (never the session key)."),
    click.option("--method", help="Substring of the RPC method, e.g. party.party.read."),
    click.option("--since", help="30m / 2h (ago), ISO date-time or epoch seconds."),
    click.option("--until", help="Same forms as --since."),
]


def with_filters(func):
    for option in reversed(filter_options):
        func = option(func)
    return func


@perf_group.command("report")
@with_filters
@click.option("--top", default=10, show_default=True, help="Rows per section.")
@json_option
@click.pass_context
def report(ctx, user, session, method, since, until, top: int, as_json: bool) -> None:
    """Top methods, tables, slowest calls, slow SQL, N+1 and chatty sessions."""
    options = _options(ctx)
    records = load(options, _filters(ctx, user, session, method, since, until))
    if _analyzer_off(ctx):
        if not records:
            raise PerfError(f"no calls recorded: {ANALYZER_OFF}")
        click.echo(f"note: older records only; {ANALYZER_OFF}", err=True)
    data = summarize(records, top=top)
    if as_json:
        emit_json(data)
        return
    click.echo(
        f"{data['calls']} calls from {_when(data['since'])} to {_when(data['until'])}, "
        f"{data['errors']} errors (store: {options.store})"
    )
    if not records:
        return
    sections = [
        ("Top methods by total time", data["methods"],
         ["method", "count", "total_ms", "mean_ms", "p95_ms", "max_ms", "sql_mean",
          "cache_hit_pct", "errors"]),
        ("Top tables by statements", data["tables"], ["table", "statements"]),
        ("Slowest calls", data["slowest"],
         ["id", "login", "method", "duration_ms", "sql_count", "sql_ms", "status", "error"]),
        ("N+1: one statement shape repeated in a call", data["n1"],
         ["id", "login", "method", "repeat", "repeat_ms", "shape"]),
        ("Slow SQL", data["slow_sql"], ["id", "login", "method", "statement_ms", "shape"]),
    ]  # fmt: skip
    for title, rows, columns in sections:
        if not rows:
            continue
        click.echo(f"\n{title}")
        shown = [{k: _cut(v) for k, v in row.items()} for row in rows]
        click.echo(table(shown, columns))
    if data["chatty"]:
        click.echo("\nChatty sessions")
        rows = [
            {
                "session": f["session"],
                "login": f["login"],
                "calls": f["calls"],
                "peak_per_s": f["peak_per_s"],
                "repeated": ", ".join(f"{r['method']} x{r['count']}" for r in f["repeated"]),
            }
            for f in data["chatty"]
        ]
        click.echo(table(rows, ["session", "login", "calls", "peak_per_s", "repeated"]))
    click.echo("\nDetails of one call: tryton-ops perf show CALL_ID")


def _cut(value, width: int = 80):
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@perf_group.command("show")
@click.argument("call_id")
@json_option
@click.pass_context
def show(ctx, call_id: str, as_json: bool) -> None:
    """One call: summary, N+1 findings, slow SQL and (full capture) every statement."""
    record = _find_call(ctx, call_id)
    if as_json:
        emit_json(record)
        return
    keys = (
        "id", "method", "db", "login", "uid", "session", "status", "error", "duration_ms",
        "sql_count", "sql_ms", "transactions", "cache_hits", "cache_misses", "request_bytes",
        "response_bytes", "pid", "host",
    )  # fmt: skip
    click.echo(f"time: {_when(record.get('ts'))}")
    for key in keys:
        click.echo(f"{key}: {record.get(key)}")
    for finding in record.get("n1") or ():
        click.echo(f"N+1: {finding['count']}x ({finding['ms']} ms) {finding['shape']}")
    for slow in record.get("slow_sql") or ():
        click.echo(f"slow SQL {slow['ms']} ms: {slow['shape']}")
        for frame in slow["stack"]:
            click.echo(f"    at {frame}")
    if record.get("profile"):
        click.echo(f"profile: tryton-ops perf export --speedscope {record['id']}")
    elif record.get("profile_error"):
        click.echo(f"profile: none ({record['profile_error']})")
    statements = record.get("statements")
    if statements is None:
        click.echo("(summary only: enable full capture with `tryton-ops perf enable --user ...`)")
        return
    counts = f"{record.get('statements_dropped', 0)} dropped"
    if record.get("statements_before_key"):  # REST: detailed from the key's verification on
        counts += f", {record['statements_before_key']} before the key check"
    click.echo(f"\n{len(statements)} statements ({counts})")
    for st in statements:
        click.echo(
            f"+{st['at_ms']:>9.1f} ms  {st['ms']:>8.2f} ms  rows={st['rows']}  {st['shape']}"
        )
        for frame in st.get("stack") or ():
            click.echo(f"    at {frame}")


@perf_group.command("export")
@click.argument("call_id")
@click.option(
    "--speedscope", "speedscope", is_flag=True,
    help="The call's sampling profile as speedscope JSON (https://www.speedscope.app).",
)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default: stdout).")
@click.pass_context
def export(ctx, call_id: str, speedscope: bool, output: str | None) -> None:
    """Export the profile of CALL_ID (full capture with [perf] profile = true)."""
    if not speedscope:
        raise click.UsageError("choose the format: --speedscope")
    record = _find_call(ctx, call_id)
    profile = record.get("profile")
    if not profile:
        why = record.get("profile_error") or (
            "it was not fully captured with perf.profile = true"
            if record.get("full")
            else "it was not fully captured (tryton-ops perf enable --user ...)"
        )
        raise PerfError(f"call {call_id} has no profile: {why}")
    text = json.dumps(profile, separators=(",", ":"))
    if output is None:
        click.echo(text)
        return
    try:
        Path(output).write_text(text + "\n")
    except OSError as exc:
        raise PerfError(f"cannot write {output}: {exc.strerror or exc}") from None
    click.echo(f"speedscope profile of {call_id} written to {output}")
