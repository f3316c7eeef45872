"""`python -m tryton_ops.debug.runner`: serve debug requests in a trytond process.

The CLI starts it with TRYTOND_CONFIG pointing at the rendered trytond.conf (so trytond is
configured before its first import) and writes one JSON document on stdin:
`{"database": NAME, "login": "admin", "history_dir": DIR, "requests": [{"action": ...,
"params": {...}}, ...]}` (`history_dir`: the file store of the eval history when the database
has no ops_debug).
It answers one JSON document on stdout: `{"results": [{"ok": true, "result": ...} |
{"ok": false, "error": ..., "type": ...}]}`. Anything else trytond or the code prints goes to
stderr, so stdout stays parseable.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from tryton_ops.debug.history import LocalHistory


def _error(exc: BaseException) -> dict[str, Any]:
    from tryton_ops.debug.errors import DebugError

    if isinstance(exc, DebugError):
        return {"ok": False, "type": "DebugError", "error": str(exc)}
    message = getattr(exc, "message", None) or str(exc)
    out = {"ok": False, "type": type(exc).__name__, "error": f"{type(exc).__name__}: {message}"}
    if not _is_user_error(exc):
        out["traceback"] = "".join(traceback.format_exception(exc))
    return out


def _is_user_error(exc: BaseException) -> bool:
    try:
        from trytond.exceptions import UserError
    except ImportError:  # pragma: no cover - trytond is always there in this process
        return False
    return isinstance(exc, UserError)


def _serve_one(
    pool, database: str, uid: int, request: dict[str, Any], local: LocalHistory | None
) -> dict[str, Any]:
    from trytond.transaction import Transaction

    from tryton_ops.debug import service

    action = request.get("action")
    params = dict(request.get("params") or {})
    if action == "history":
        with Transaction().start(database, uid, readonly=True):
            return {"ok": True, "result": service.history(pool, **params, local=local)}
    if action == "eval":
        with Transaction().start(database, uid, readonly=False) as transaction:
            try:
                result = service.call(pool, action, params)
            except BaseException:
                transaction.rollback()
                raise
            if not result["committed"]:
                transaction.rollback()
        with Transaction().start(database, uid, readonly=False):
            service.log_eval(pool, params.get("code", ""), result, local)
        return {"ok": True, "result": result}
    with Transaction().start(database, uid, readonly=True):
        return {"ok": True, "result": service.call(pool, action, params)}


def serve(document: dict[str, Any]) -> dict[str, Any]:
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from tryton_ops.debug.errors import DebugError
    from tryton_ops.debug.records import find_user

    database = document["database"]
    login = document.get("login") or "admin"
    requests = document.get("requests", [])
    try:
        pool = Pool(database)
        pool.init()
        with Transaction().start(database, 0, readonly=True):
            uid = find_user(pool, login)
    except DebugError as exc:
        return {"results": [_error(exc)] * len(requests)}
    except Exception as exc:
        failed = DebugError(f"cannot open database {database!r}: {type(exc).__name__}: {exc}")
        return {"results": [_error(failed)] * len(requests)}
    local = None
    if document.get("history_dir"):
        local = LocalHistory(Path(document["history_dir"]), database, login)
    results = []
    for request in requests:
        try:
            results.append(_serve_one(pool, database, uid, request, local))
        except Exception as exc:
            results.append(_error(exc))
    return {"results": results}


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever else writes to stdout lands on stderr
    sys.stdout = sys.stderr
    document = json.load(sys.stdin)
    answer = serve(document)
    out.write(json.dumps(answer, default=repr))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
