"""`tryton-ops top`: `status`, refreshed live in the terminal (rich); `q` quits."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable, Iterator
from typing import Any

import click

from tryton_ops.cli.base import get_config

PROCESS_COLUMNS = ["role", "pid", "state", "uptime_s", "restarts", "rss_mib", "cpu_s", "in_flight"]
MAX_REQUEST_LINES = 10


def display_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Process rows for a table: "-" where a value is unknown (e.g. no status report yet)."""
    return [{k: "-" if v is None else v for k, v in row.items()} for row in rows]


def request_lines(data: dict[str, Any]) -> list[str]:
    """The requests in flight, longest first (from trytond's status reports)."""
    source = data.get("requests_source") or {}
    if not data["running"]:
        return []
    if not source.get("available", True):
        return [f"requests in flight: unknown ({source['reason']})"]
    requests = data.get("requests") or []
    lines = [f"requests in flight: {len(requests)}"]
    lines += [
        f"  pid {r['pid']}  {r['since_s']:>7.1f} s  {r['request']}"
        for r in requests[:MAX_REQUEST_LINES]
    ]
    if len(requests) > MAX_REQUEST_LINES:
        lines.append(f"  ... and {len(requests) - MAX_REQUEST_LINES} more")
    return lines


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def backup_line(data: dict[str, Any]) -> str:
    last, at = data.get("last_backup"), data.get("backup_schedule")
    schedule = f"daily at {at}" if at else "not scheduled (backup.schedule)"
    if last is None:
        return f"last backup: never; {schedule}"
    stale = ", older than backup.max_age" if last.get("stale") else ""
    return f"last backup: {_age(last['age_s'])}{stale} ({last['path']}); {schedule}"


def summary_lines(data: dict[str, Any]) -> list[str]:
    """The non-process part of the status, one line per concern."""
    lines = request_lines(data)
    db = data["database"]
    if "error" in db:
        lines.append(f"database {db['name']}: error: {db['error']}")
    elif not db.get("exists"):
        lines.append(f"database {db['name']} ({db['backend']}): does not exist")
    else:
        conns = db.get("connections")
        conn_text = "" if conns is None else f", {conns}/{db.get('max_connections')} connections"
        lines.append(
            f"database {db['name']} ({db['backend']}): {_mib(db.get('size_bytes'))}, "
            f"attachments {_mib(db.get('filestore_bytes'))}{conn_text}"
        )
    for redis in data["redis"]:
        if "error" in redis:
            lines.append(f"redis {redis['uri']}: error: {redis['error']}")
        else:
            limit = _mib(redis["maxmemory"]) if redis["maxmemory"] else "no limit"
            lines.append(
                f"redis {redis['uri']}: {_mib(redis['used_memory'])} used, {limit}, "
                f"policy {redis['maxmemory_policy']}"
            )
    cache = data.get("cache")
    if cache is not None:
        if "error" in cache:
            lines.append(f"cache: error: {cache['error']}")
        else:
            ratio = cache["hit_ratio"]
            text = "-" if ratio is None else f"{ratio:.1%}"
            where = "workers' in-process caches" if cache.get("source") == "workers" else "Redis"
            lines.append(f"cache ({where}): hit ratio {text} over {cache['lookups']} lookups")
    lines.append(backup_line(data))
    lines.append(_jobs_line(data.get("jobs") or {}))
    accels = data.get("accelerators") or []
    lines.append("accelerators: " + ", ".join(f"{a['name']} {a['state']}" for a in accels))
    return lines


def _jobs_line(jobs: dict[str, Any]) -> str:
    """The queue and cron in one line; the details are in `status --json` (`jobs`)."""
    if "error" in jobs:
        return f"queue and cron: error: {jobs['error']}"
    tasks = jobs.get("tasks", [])
    pending = sum(t["pending"] for t in tasks)
    unfinished = sum(t["unfinished"] for t in tasks)
    active = [job for job in jobs.get("cron", []) if job["active"]]
    upcoming = min((job["next_call"] for job in active if job["next_call"]), default=None)
    nxt = f", next at {upcoming}" if upcoming else ""
    return (
        f"queue: {pending} pending, {unfinished} taken unfinished; "
        f"cron: {len(active)} active jobs{nxt}"
    )


def render(data: dict[str, Any]):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = (f"running: {data['url']}" if data["running"] else "not running") + time.strftime(
        "   %H:%M:%S   (q quits)", time.localtime(data["time"])
    )
    table = Table(box=None, header_style="bold")
    for column in PROCESS_COLUMNS:
        table.add_column(column.upper(), justify="left" if column in ("role", "state") else "right")
    for row in display_rows(data["processes"]):
        table.add_row(*(str(row.get(column, "")) for column in PROCESS_COLUMNS))
    return Group(Text(head, style="bold"), table, *(Text(line) for line in summary_lines(data)))


@contextlib.contextmanager
def keys() -> Iterator[Callable[[float], str]]:
    """`wait(seconds)`: the keys typed within `seconds` (at once when one is typed).

    The terminal is put in cbreak mode (keys arrive unechoed, without Enter; Ctrl-C still
    interrupts) and restored on exit; without a terminal on stdin, `wait` only sleeps.
    """
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    if fd is None:
        yield lambda seconds: time.sleep(seconds) or ""
        return
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def wait(seconds: float) -> str:
        ready, _, _ = select.select([fd], [], [], seconds)
        return os.read(fd, 32).decode(errors="replace") if ready else ""

    try:
        yield wait
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@click.command()
@click.option("--interval", "-n", default=2.0, show_default=True, help="Seconds between updates.")
@click.option("--iterations", type=int, help="Stop after this many updates (default: q or Ctrl-C).")
@click.pass_context
def top(ctx: click.Context, interval: float, iterations: int | None) -> None:
    """`status`, refreshed live: processes, memory and CPU, requests in flight, database, Redis,
    last backup. `q` quits."""
    from rich.live import Live

    from tryton_ops.views.status import gather

    config = get_config(ctx)
    count = 0
    try:
        with keys() as wait, Live(render(gather(config)), auto_refresh=False) as live:
            while True:
                count += 1
                if iterations is not None and count >= iterations:
                    break
                if "q" in wait(interval).lower():
                    break
                live.update(render(gather(config)), refresh=True)
    except KeyboardInterrupt:
        pass
