"""Guarded code evaluation inside a trytond transaction.

Off unless `[ops_debug] eval = true` in trytond.conf (rendered from `[debug] eval = true`).
The caller owns the transaction and rolls it back unless asked to commit; this module runs the
code with `pool`, `Transaction`, the models at hand, captures what it prints, its result or
its exception, and stops it after a timeout.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import ctypes
import io
import linecache
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from tryton_ops.config.schema import Debug
from tryton_ops.debug.errors import DebugError
from tryton_ops.debug.records import jsonable

MAX_OUTPUT = 1_000_000  # characters of captured print() output kept
MAX_REPR = 20_000


class EvalTimeout(BaseException):
    """Raised inside the evaluated code when its time is up (BaseException: not swallowed by
    `except Exception` in user code)."""


class CommitRefused(Exception):
    """Raised inside the evaluated code when it commits an evaluation that rolls back."""


@contextlib.contextmanager
def guarded_commits(transaction, allowed: bool, commits: list[int]) -> Iterator[None]:
    """Route the code's `transaction.commit()` through a guard: refused unless the evaluation
    commits anyway, counted in `commits` otherwise, so the reported `committed` is the truth."""
    original = transaction.commit

    def commit() -> None:
        if not allowed:
            raise CommitRefused(
                "this evaluation rolls back, so the code may not commit: run it with --commit "
                '(RPC: "commit": true) to keep its changes'
            )
        original()
        commits.append(1)

    transaction.commit = commit
    try:
        yield
    finally:
        del transaction.commit


def eval_enabled() -> bool:
    return Debug.from_trytond().eval


def eval_timeout() -> int:
    return Debug.from_trytond().eval_timeout


def check_enabled() -> None:
    if not eval_enabled():
        raise DebugError(
            "code evaluation is disabled: set `[debug] eval = true` in tryton-ops.toml "
            "(it renders `[ops_debug] eval = true` into trytond.conf) and restart the server"
        )


class _Output(io.StringIO):
    def write(self, text: str) -> int:
        if self.tell() < MAX_OUTPUT:
            super().write(text[: MAX_OUTPUT - self.tell()])
        return len(text)


def namespace(pool, output: io.StringIO) -> dict[str, Any]:
    """What the code sees: the pool, Transaction, `get(model)` and a print that is captured."""
    from trytond import pyson
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    def _print(*args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("file", output)
        if kwargs["file"] is None:
            kwargs["file"] = output
        builtins.print(*args, **kwargs)

    names = dict(vars(builtins))
    names["print"] = _print
    transaction = Transaction()
    user = pool.get("res.user")(transaction.user) if transaction.user else None
    env = {
        "__builtins__": names,
        "__name__": "__ops_debug__",
        "pool": pool,
        "Pool": Pool,
        "Transaction": Transaction,
        "transaction": transaction,
        "context": dict(transaction.context),
        "user": user,
        "get": pool.get,
    }
    env.update({name: getattr(pyson, name) for name in pyson.CONTEXT if name[0].isupper()})
    return env


def _split(code: str, filename: str) -> tuple[Any, Any]:
    """(statements, last expression or None): the value of a trailing expression is shown."""
    try:
        tree = ast.parse(code, filename, "exec")
    except SyntaxError as exc:
        raise DebugError(f"syntax error in {filename} line {exc.lineno}: {exc.msg}") from None
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec")
    return body, compile(last, filename, "eval") if last is not None else None


def _raise_in(ident: int) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(EvalTimeout))


def run_code(
    pool, code: str, filename: str = "<eval>", timeout: float | None = None, commit: bool = False
):
    """Run `code`; return {"result", "value", "output", "error", "duration", "code_commits"}
    (never raises for errors of the code itself, only for a refused or unparsable request).
    The code may call `transaction.commit()` only when the evaluation `commit`s."""
    from trytond.transaction import Transaction

    check_enabled()
    body, last = _split(code, filename)
    # tracebacks show the evaluated lines even when the file only exists on the client
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    timeout = timeout or eval_timeout()
    output = _Output()
    env = namespace(pool, output)
    state = {"done": False, "fired": False}
    lock = threading.Lock()
    ident = threading.get_ident()

    def expire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                _raise_in(ident)

    result: Any = None
    error = None
    commits: list[int] = []
    started = time.monotonic()
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    try:
        try:
            timer.start()
            with guarded_commits(Transaction(), commit, commits):
                exec(body, env)
                if last is not None:
                    result = eval(last, env)
        finally:
            with lock:
                state["done"] = True
            timer.cancel()
    except EvalTimeout:
        error = {
            "type": "Timeout",
            "message": f"stopped after {timeout} s (set [debug] eval_timeout or --timeout)",
            "traceback": _traceback(filename),
        }
    except Exception as exc:
        error = {
            "type": f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins."),
            "message": str(getattr(exc, "message", None) or exc),
            "traceback": _traceback(filename),
        }
    duration = time.monotonic() - started
    linecache.cache.pop(filename, None)
    return {
        "result": _repr(result) if error is None else None,
        "value": _value(result) if error is None else None,
        "output": output.getvalue(),
        "error": error,
        "duration": round(duration, 6),
        "code_commits": len(commits),
    }


def _traceback(filename: str) -> str:
    """The traceback from the evaluated code down (the runner's own frames left out)."""
    import sys

    exc = sys.exc_info()[1]
    frames = traceback.extract_tb(exc.__traceback__)
    start = next((i for i, f in enumerate(frames) if f.filename == filename), 0)
    lines = traceback.format_list(frames[start:])
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def _repr(value: Any) -> str | None:
    if value is None:
        return None
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<repr failed: {exc.__class__.__name__}: {exc}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "..."


def _value(value: Any) -> Any:
    """The result as JSON when it is plain data (records become [model, id])."""
    from trytond.model import Model

    if isinstance(value, Model):
        return [value.__name__, value.id]
    if isinstance(value, (list, tuple)) and all(isinstance(v, Model) for v in value) and value:
        return [[v.__name__, v.id] for v in value]
    value = jsonable(value)
    import json

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value
