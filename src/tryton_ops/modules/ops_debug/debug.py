"""The RPC face of the debug part: `model.ops.debug.<action>(params, context)`.

Every method checks on the server that the caller is an administrator (8.2: the user's
`administrator` flag; 8.0: the Administration group); anyone else gets an AccessError.
Evaluation also needs `[ops_debug] eval = True`.
"""

from __future__ import annotations

from typing import Any

from trytond.exceptions import UserError
from trytond.model import Model, ModelSQL, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access

from tryton_ops.access.administrators import is_administrator
from tryton_ops.debug import service
from tryton_ops.debug.errors import DebugError

READ_ACTIONS = ("inspect", "inspect_all", "checks", "locate", "record", "pyson", "history")


def check_admin() -> None:
    """Refuse anyone who is not an administrator (root, user 0, is allowed)."""
    if not is_administrator():
        raise AccessError("ops.debug is reserved to administrators.")


def _serve(action: str, params: Any) -> Any:
    check_admin()
    if not isinstance(params, dict):
        raise UserError(f"ops.debug.{action}: the parameters must be a JSON object")
    try:
        return service.call(Pool(), action, params)
    except DebugError as exc:
        raise UserError(str(exc)) from None


class Debug(Model):
    "Operations Debug"

    __name__ = "ops.debug"

    @classmethod
    def __setup__(cls) -> None:
        super().__setup__()
        cls.__rpc__.update({name: RPC(readonly=True) for name in READ_ACTIONS})
        cls.__rpc__["eval"] = RPC(readonly=False, check_access=False)

    @classmethod
    def inspect(cls, params: dict) -> Any:
        return _serve("inspect", params)

    @classmethod
    def inspect_all(cls, params: dict) -> Any:
        return _serve("inspect_all", params)

    @classmethod
    def checks(cls, params: dict) -> Any:
        return _serve("checks", params)

    @classmethod
    def locate(cls, params: dict) -> Any:
        return _serve("locate", params)

    @classmethod
    def record(cls, params: dict) -> Any:
        return _serve("record", params)

    @classmethod
    def pyson(cls, params: dict) -> Any:
        return _serve("pyson", params)

    @classmethod
    def history(cls, params: dict) -> Any:
        return _serve("history", params)

    @classmethod
    def eval(cls, params: dict) -> Any:
        """Run code in this RPC's transaction, rolled back unless params["commit"]."""
        transaction = Transaction()
        try:
            result = _serve("eval", params)
        except BaseException:
            _rollback(transaction)
            raise
        if not result["committed"]:
            _rollback(transaction)
        service.log_eval(Pool(), params.get("code", ""), result)
        return result


def _rollback(transaction) -> None:
    transaction.rollback()
    transaction.tasks.clear()
    # rollback() aborts the joined data managers but keeps them; the dispatcher's commit
    # would then replay them: forget them as trytond does when a transaction ends.
    transaction._datamanagers = []


class EvalLog(ModelSQL):
    "Operations Debug Evaluation"

    __name__ = "ops.debug.eval"

    user = fields.Many2One("res.user", "User", readonly=True, ondelete="CASCADE")
    code = fields.Text("Code", readonly=True)
    committed = fields.Boolean("Committed", readonly=True)
    error = fields.Char("Error", readonly=True)
    result = fields.Text("Result", readonly=True)
    duration = fields.Float("Duration", readonly=True)

    @classmethod
    def __setup__(cls) -> None:
        super().__setup__()
        cls._order = [("id", "DESC")]

    @classmethod
    def log(cls, code: str, result: dict) -> None:
        error = result.get("error")
        with without_check_access():
            cls.create(
                [
                    {
                        "user": Transaction().user or None,
                        "code": code,
                        "committed": bool(result.get("committed")),
                        "error": f"{error['type']}: {error['message']}"[:500] if error else None,
                        "result": (result.get("result") or "")[:2000],
                        "duration": result.get("duration"),
                    }
                ]
            )

    @classmethod
    def recent(cls, limit: int) -> list[dict]:
        """The calling user's latest evaluations, newest first."""
        with without_check_access():
            logs = cls.search([("user", "=", Transaction().user or None)], limit=limit)
            return [
                {
                    "id": log.id,
                    "date": log.create_date.isoformat() if log.create_date else None,
                    "code": log.code,
                    "committed": log.committed,
                    "error": log.error,
                    "result": log.result,
                    "duration": log.duration,
                }
                for log in logs
            ]
