"""The RPC face of full capture: `model.ops.perf.<enable|disable|list>(..., context)`.

Only administrators (checked on the server, as for ops.debug) may call them. The activation is
written to the analyzer's store exactly as `tryton-ops perf enable` does, so every worker of
every host sees it within seconds.
"""

from __future__ import annotations

from trytond.exceptions import UserError
from trytond.model import Model
from trytond.pool import Pool
from trytond.rpc import RPC
from trytond.transaction import Transaction, without_check_access

from tryton_ops.config.durations import parse_duration
from tryton_ops.modules.ops_debug.debug import check_admin
from tryton_ops.perf import activation
from tryton_ops.perf.errors import PerfError
from tryton_ops.perf.options import PerfOptions


def _options() -> PerfOptions:
    options = PerfOptions.from_trytond()
    if options.store == "file" and not options.directory:
        raise UserError("The performance analyzer is not enabled here ([perf] enabled).")
    return options


def _uid(login: str) -> int:
    User = Pool().get("res.user")
    with without_check_access():
        users = User.search([("login", "=", login), ("active", "=", True)], limit=1)
    if not users:
        raise UserError(f"No active user with login {login!r}.")
    return users[0].id


def _database() -> str:
    return Transaction().database.name


class Perf(Model):
    "Operations Performance Analyzer"

    __name__ = "ops.perf"

    @classmethod
    def __setup__(cls) -> None:
        super().__setup__()
        cls.__rpc__.update(
            {name: RPC(readonly=True) for name in ("enable", "disable", "list_active")}
        )

    @classmethod
    def enable(cls, login: str, duration: str | int = "30m") -> dict:
        """Full capture of `login`'s calls for `duration` (seconds or 30m, 2h, 1d...)."""
        check_admin()
        if not isinstance(login, str) or not login:
            raise UserError("ops.perf.enable: login must be a non-empty string")
        try:
            seconds = parse_duration(duration)
        except (TypeError, ValueError) as exc:
            raise UserError(f"ops.perf.enable: {exc}") from None
        try:
            return activation.enable_user(_options(), _database(), _uid(login), login, seconds)
        except PerfError as exc:
            raise UserError(str(exc)) from None

    @classmethod
    def disable(cls, login: str | None = None) -> list[dict]:
        """Stop full capture of `login` (None: of everybody in this database)."""
        check_admin()
        try:
            return activation.disable_users(_options(), _database(), login or None)
        except PerfError as exc:
            raise UserError(str(exc)) from None

    @classmethod
    def list_active(cls) -> list[dict]:
        """Users of this database under full capture, and until when (epoch seconds)."""
        check_admin()
        try:
            return activation.active_users(_options(), _database())
        except PerfError as exc:
            raise UserError(str(exc)) from None
