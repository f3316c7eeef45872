"""The CLI side: serve debug actions in process (a runner subprocess) or over RPC.

Never imports trytond: trytond reads its configuration at first import, so the work happens in
a subprocess started with TRYTOND_CONFIG from the tryton-ops config (or in a running server).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from tryton_ops.config import LoadedConfig
from tryton_ops.debug.errors import DebugError, close_matches
from tryton_ops.errors import EXIT_USAGE

RPC_PREFIX = "model.ops.debug."


@dataclass
class Request:
    action: str
    params: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "params": self.params}


class UnknownDatabase(DebugError):
    """A database name that names no Tryton database: bad input, said before trytond starts."""

    exit_code = EXIT_USAGE


def require_database(config: LoadedConfig, name: str) -> str:
    """`name` if it is a Tryton database, else an error naming the close ones (a stopped
    PostgreSQL is its own error, never reported as a missing database)."""
    from tryton_ops.access.database import database_exists, list_databases

    if database_exists(config, name):
        return name
    found = list_databases(config)
    close = close_matches(name, found, n=3)
    shown = ", ".join(found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
    hint = "" if close else f"; databases: {shown or 'none'} (`tryton-ops db list`)"
    raise UnknownDatabase(f"database {name!r} does not exist{hint}", close)


def _unwrap(answer: dict[str, Any]) -> Any:
    if answer.get("ok"):
        return answer["result"]
    message = answer.get("error") or "failed"
    if answer.get("traceback"):
        message += "\n" + answer["traceback"].rstrip()
    raise DebugError(message)


def run_local_many(
    config: LoadedConfig,
    requests: list[Request],
    database: str | None = None,
    login: str = "admin",
    timeout: float | None = 600,
) -> list[dict[str, Any]]:
    """Serve several requests in one trytond process; raw answers (`ok`, `result`/`error`)."""
    from tryton_ops.config.trytond_conf import trytond_env
    from tryton_ops.debug.history import history_root

    document = {
        "database": require_database(config, database or config.settings.database.name),
        "login": login,
        "history_dir": str(history_root(config.run_dir)),
        "requests": [r.as_dict() for r in requests],
    }
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tryton_ops.debug.runner"],
            input=json.dumps(document),
            capture_output=True,
            text=True,
            env=trytond_env(config),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DebugError(f"the trytond process did not answer within {timeout} s") from None
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise DebugError(f"the trytond process failed (exit {done.returncode}):\n{tail}") from None
    return answer["results"]


def run_console(config: LoadedConfig, database: str | None, login: str, commit: bool) -> int:
    """The interactive console in a trytond subprocess on this terminal; its exit code."""
    import signal

    from tryton_ops.config.trytond_conf import trytond_env
    from tryton_ops.debug.history import history_root

    argv = [sys.executable, "-m", "tryton_ops.debug.console"]
    argv += [require_database(config, database or config.settings.database.name)]
    argv += ["--login", login]
    argv += ["--history-dir", str(history_root(config.run_dir))]
    argv += ["--commit"] if commit else []
    # Ctrl-C interrupts the statement running in the console, not this waiting parent
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(argv, env=trytond_env(config))
    finally:
        signal.signal(signal.SIGINT, previous)


def run_local(config: LoadedConfig, action: str, params: dict[str, Any], **kwargs: Any) -> Any:
    (answer,) = run_local_many(config, [Request(action, params)], **kwargs)
    return _unwrap(answer)


def run_remote(connection, action: str, params: dict[str, Any]) -> Any:
    """Call the ops_debug RPC method on a logged-in `tryton_ops.client.Connection`."""
    from tryton_ops.client.errors import ServerError, TransportError

    try:
        return connection.call(RPC_PREFIX + action, params, {})
    except ServerError as exc:
        raise DebugError(_server_message(exc)) from None
    except TransportError as exc:
        if getattr(exc, "status", None) == 403:
            raise DebugError(
                f"{RPC_PREFIX}{action} is not served: is ops_debug activated in the database?"
            ) from None
        raise DebugError(str(exc)) from None


def _server_message(exc: Exception) -> str:
    """The readable part of a Tryton error (['UserError', [message, description, ...]])."""
    data = getattr(exc, "error", None) or (exc.args[0] if exc.args else None)
    if isinstance(data, (list, tuple)) and len(data) >= 2:
        kind, detail = data[0], data[1]
        if isinstance(detail, (list, tuple)) and detail:
            return f"{kind}: {detail[0]}"
        return f"{kind}: {detail}"
    return str(exc)
