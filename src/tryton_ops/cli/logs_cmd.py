"""`tryton-ops logs [PROGRAM] [-f] [-n N] [--since]`: the stack's logs, merged by time."""

from __future__ import annotations

import signal
import time
from datetime import datetime

import click

from tryton_ops.cli.base import get_config
from tryton_ops.config.durations import parse_duration


def _since(text: str | None) -> float | None:
    """`30m`/`2h` ago, or an ISO date-time (local time unless it has an offset)."""
    if text is None:
        return None
    try:
        return time.time() - parse_duration(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: a duration (30m, 2h, 1d) or a date-time (2026-12-02T08:00)",
            param_hint="--since",
        ) from None


@click.command()
@click.argument("program", required=False)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option(
    "--lines", "-n", default=50, show_default=True, type=click.IntRange(min=0),
    help="Lines to show first (0: none, with -f only what comes).",
)  # fmt: skip
@click.option("--since", help="Only lines from then on: 30m, 2h (ago) or a date-time.")
@click.pass_context
def logs(ctx: click.Context, program: str | None, follow: bool, lines: int, since: str | None):
    """The logs of the stack's programs (app, front, cron, queue workers, supervisor, ...)
    merged by time, one program with PROGRAM; each line starts with its program's name."""
    from tryton_ops.deploy.logs import follow as follow_logs
    from tryton_ops.deploy.logs import recent, select

    config = get_config(ctx)
    files = select(config, program)
    width = max((len(log.program) for log in files), default=0)

    def show(batch) -> None:
        for line in batch:
            click.echo(f"{line.program:<{width}} | {line.text}")

    show(recent(files, lines, _since(since)))
    if not follow:
        return
    # Ctrl-C stops following even when started where SIGINT is ignored (a background job of a
    # script inherits that), and so does SIGTERM
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for batch in follow_logs(config, program, files):
            show(batch)
    except KeyboardInterrupt:
        pass
