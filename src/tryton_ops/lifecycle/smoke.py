"""The smoke check after an update: what a user does first, on the models the update touched.

Runs inside trytond (`python -m tryton_ops.lifecycle.smoke DB MODULES_JSON`, admin password on
stdin) against the updated database, in a transaction that is rolled back: admin logs in with
its password (without a configured password, an admin session is opened), gets its
preferences, then for every model the updated modules define or extend,
every base view is built (`fields_view_get`, inherited views applied) and a few records are
read with every field. A failure names the model and the step; a passing check changes nothing.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env

READ_LIMIT = 5


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    checks: int = 0  # views built and models read
    models: list[str] = field(default_factory=list)
    failure: str = ""


def run_smoke(
    config: LoadedConfig,
    name: str,
    modules: list[str],
    password: str | None,
    timeout: float | None,
) -> SmokeResult:
    """Check database `name`; a crash, a timeout or a failed step is a failed check."""
    from tryton_ops.lifecycle.database import _run

    cmd = [sys.executable, "-m", "tryton_ops.lifecycle.smoke", name, json.dumps(modules)]
    env = trytond_env(config)
    try:
        out, _ = _run(cmd, env, "the smoke check", stdin=(password or "") + "\n", timeout=timeout)
        found = json.loads(out.strip().splitlines()[-1])
    except (Exception, IndexError) as exc:
        return SmokeResult(False, failure=str(exc))
    return SmokeResult(found["failure"] == "", found["checks"], found["models"], found["failure"])


# -- inside trytond ----------------------------------------------------------------------------


def _models_of(pool, modules: list[str]) -> list[str]:
    """Models the modules define, or extend with a field."""
    Model = pool.get("ir.model")
    Field = pool.get("ir.model.field")
    names = {m.name for m in Model.search([("module", "in", modules)])}
    names |= {f.model for f in Field.search([("module", "in", modules)])}
    return sorted(names)


def _check_model(pool, name: str) -> int:
    from trytond.model import ModelStorage, ModelView

    try:
        Model = pool.get(name)
    except KeyError:
        raise RuntimeError(f"{name}: not in the pool") from None
    checks = 0
    if issubclass(Model, ModelView):
        View = pool.get("ir.ui.view")
        for view in View.search([("model", "=", name), ("inherit", "=", None)]):
            try:
                Model.fields_view_get(view_id=view.id)
            except Exception as exc:
                raise RuntimeError(f"{name}: view {view.rec_name!r}: {exc}") from exc
            checks += 1
    if issubclass(Model, ModelStorage) and not getattr(Model, "__abstract__", False):
        try:
            records = Model.search([], limit=READ_LIMIT)
            Model.read([r.id for r in records], list(Model._fields))
        except Exception as exc:
            raise RuntimeError(f"{name}: read: {exc}") from exc
        checks += 1
    return checks


def _log_in(pool, password: str) -> int:
    """admin's id, through trytond's login with `password` (without one, admin's id: the
    password itself is then not checked)."""
    User = pool.get("res.user")
    if password:
        user = User.get_login("admin", {"password": password})
        if not user:
            raise RuntimeError("admin cannot log in with the configured admin password")
        return user
    users = User.search([("login", "=", "admin")])
    if not users:
        raise RuntimeError("no active admin user")
    return users[0].id


def check(database: str, modules: list[str], password: str) -> dict:
    """Each step in its own transaction, rolled back: on SQLite the first write of a
    transaction takes the database lock, which the avatar trytond stores in a transaction of
    its own (get_preferences) would then wait for."""
    from trytond.pool import Pool

    pool = Pool(database)
    pool.init()
    result = {"checks": 0, "models": [], "failure": ""}
    try:
        user = _step(database, 0, lambda: _log_in(pool, password))
        _step(database, user, lambda: pool.get("ir.session").new())  # what a login opens
        _step(database, user, lambda: _use(pool, modules, result))
    except Exception as exc:
        result["failure"] = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return result


def _step(database: str, user: int, step):
    from trytond.transaction import Transaction

    with Transaction().start(database, user) as transaction:
        try:
            return step()
        finally:
            transaction.rollback()


def _use(pool, modules: list[str], result: dict) -> None:
    """Preferences, then the views and records of the models the modules touch."""
    from trytond.transaction import Transaction

    User = pool.get("res.user")
    context = User.get_preferences(context_only=True)
    User.get_preferences()
    with Transaction().set_context(context):
        result["models"] = _models_of(pool, modules)
        for name in result["models"]:
            result["checks"] += _check_model(pool, name)


if __name__ == "__main__":
    print(json.dumps(check(sys.argv[1], json.loads(sys.argv[2]), sys.stdin.read().strip())))
