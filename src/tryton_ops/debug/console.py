"""`python -m tryton_ops.debug.console`: the interactive console of `tryton-ops eval`.

Started by the CLI with TRYTOND_CONFIG pointing at the rendered trytond.conf and the terminal
(or pipe) as its stdin/stdout. One transaction spans the whole session, so what a statement
creates the next one sees; it is rolled back on exit unless `--commit`. The session's code goes
to the user's eval history like any evaluation.
"""

from __future__ import annotations

import argparse
import code
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tryton_ops.debug.history import LocalHistory

BANNER = """tryton-ops console on {database!r} as {login!r} (trytond {version})
In scope: pool, Pool, Transaction, transaction, context, user, PYSON (Eval, If, ...),
  get('party.party') -> the model class, record('party.party', 1) -> a record,
  and every model as `models['party.party']`.
One transaction for the session: {ending} on exit (Ctrl-D)."""


class Console(code.InteractiveConsole):
    """Keeps the statements that ran, for the history."""

    def __init__(self, namespace: dict[str, Any]):
        super().__init__(namespace, filename="<console>")
        self.ran: list[str] = []

    def runsource(self, source: str, filename: str = "<console>", symbol: str = "single") -> bool:
        more = super().runsource(source, filename, symbol)
        if not more and source.strip():
            self.ran.append(source)
        return more


def console_namespace(pool) -> dict[str, Any]:
    """The eval namespace (print going to the terminal), plus records and every model."""
    from tryton_ops.debug.evaluate import namespace

    env = namespace(pool, sys.stdout)
    env["record"] = lambda model, id: pool.get(model)(id)
    env["models"] = {name: model for name, model in pool.iterobject()}
    return env


def run(database: str, login: str, commit: bool, history_dir: str | None) -> int:
    from trytond import __version__
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from tryton_ops.debug import service
    from tryton_ops.debug.errors import DebugError
    from tryton_ops.debug.evaluate import check_enabled
    from tryton_ops.debug.records import find_user

    try:
        check_enabled()
        pool = Pool(database)
        pool.init()
        with Transaction().start(database, 0, readonly=True):
            uid = find_user(pool, login)
    except DebugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    local = LocalHistory(Path(history_dir), database, login) if history_dir else None
    started = time.monotonic()
    ending = "committed" if commit else "rolled back"
    banner = BANNER.format(database=database, login=login, version=__version__, ending=ending)
    transaction = Transaction().start(database, uid, readonly=False)
    ended = False
    try:
        console = Console(console_namespace(pool))
        with contextlib.suppress(SystemExit):  # exit() or quit() typed in the console
            console.interact(banner=banner, exitmsg="")
        ended = True
    finally:
        transaction.stop(commit and ended)  # commits only when asked and ended normally
    result = {
        "committed": commit,
        "error": None,
        "result": f"console session, {len(console.ran)} statements",
        "duration": round(time.monotonic() - started, 3),
    }
    if console.ran:
        with Transaction().start(database, uid, readonly=False):
            service.log_eval(pool, "".join(s + "\n" for s in console.ran), result, local)
    print(f"({ending})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tryton_ops.debug.console")
    parser.add_argument("database")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--commit", action="store_true")
    parser.add_argument("--history-dir")
    args = parser.parse_args(argv)
    # the CLI waiting for us ignores Ctrl-C, and we inherit that: take KeyboardInterrupt back
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return run(args.database, args.login, args.commit, args.history_dir)


if __name__ == "__main__":
    sys.exit(main())
