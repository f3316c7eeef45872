"""`db update`: update only the modules whose files changed, plus the modules depending on them.

The update is rehearsed on a scratch copy first, then applied to the live database with a way
back (lifecycle.safe_update). The checksums of every activated module's files are recorded in
the database (table ops_module_checksum) at init and after each update; a module whose current
checksum differs, or that has none recorded, needs an update, and so does every activated
module depending on it.
One update at a time may run per database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tryton_ops.access.database import (
    DatabaseError,
    activated_modules,
    connect,
    database_exists,
)
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.checksums import changed_modules, current_checksums, recorded_checksums
from tryton_ops.lifecycle.lock import exclusive
from tryton_ops.lifecycle.modules import check_installed, dependency_closure, dependents
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.progress import NULL, Reporter
from tryton_ops.lifecycle.safe_update import (
    DEFAULT_TIMEOUT_S,
    Rehearsal,
    UpdateFailed,
    UpdatePlan,
    apply_update,
    recover,
    refresh_workers,
    rehearse_update,
    smoke_password,
)


@dataclass(frozen=True)
class UpdateResult:
    plan: UpdatePlan
    dry_run: bool
    backup: Path | None = None
    seconds: float = 0.0
    workers: str = ""  # how running workers get the new pool
    notes: list[str] = field(default_factory=list)
    rehearsal: Rehearsal | None = None
    applied: bool = False
    maintenance_s: float = 0.0  # how long the database answered 503
    smoke_checks: int = 0
    recovered: str | None = None  # what was done about an interrupted earlier run


def plan_update(
    config: LoadedConfig, name: str, modules: list[str] | None = None, all_: bool = False
) -> UpdatePlan:
    check_name(name)
    if not database_exists(config, name):
        raise DatabaseError(f"database {name!r} does not exist")
    with connect(config, name) as session:
        activated = activated_modules(session)
        recorded = recorded_checksums(session)
    reasons: dict[str, str] = {}
    if all_:
        reasons = {module: "--all" for module in activated}
    elif modules:
        check_installed(modules)
        for module in modules:
            reasons[module] = "requested" if module in activated else "requested (activate)"
    else:
        reasons = changed_modules(recorded, current_checksums(activated))
    for module in sorted(dependents(set(reasons), activated) - set(reasons)):
        reasons[module] = "depends on an updated module"
    order = dependency_closure(sorted(reasons))
    return UpdatePlan(name, [m for m in order if m in reasons], reasons)


def update_database(
    config: LoadedConfig,
    name: str,
    modules: list[str] | None = None,
    all_: bool = False,
    dry_run: bool = False,
    backup: bool = True,
    reporter: Reporter = NULL,
    rehearse: bool = True,
    rehearse_only: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> UpdateResult:
    """Rehearse the update on a copy, then apply it with a way back (see safe_update.py).

    `backup=False` keeps no archive: one is still taken as the way back, and deleted once the
    update passed its smoke check."""
    started = time.perf_counter()
    check_name(name)
    if dry_run:
        return UpdateResult(plan_update(config, name, modules, all_), dry_run=True)
    with exclusive(config, name, "update"):
        recovered = recover(config, name, reporter)
        plan = plan_update(config, name, modules, all_)
        if not plan.modules:
            return UpdateResult(
                plan, False, seconds=time.perf_counter() - started, recovered=recovered
            )
        password = smoke_password(config)
        rehearsal = None
        if rehearse:
            rehearsal = rehearse_update(config, plan, password, timeout, reporter)
            if rehearsal.failure:
                raise UpdateFailed(
                    f"the rehearsal on a copy of {name!r} failed ({rehearsal.seconds:.1f} s): "
                    f"{rehearsal.failure}\nnothing live was touched"
                )
        if rehearse_only:
            return UpdateResult(
                plan, False, seconds=time.perf_counter() - started, rehearsal=rehearsal,
                recovered=recovered,
            )  # fmt: skip
        applied = apply_update(config, plan, password, timeout, keep_backup=backup,
                               reporter=reporter)  # fmt: skip
    return UpdateResult(
        plan, False, applied.backup, time.perf_counter() - started, applied.workers,
        rehearsal=rehearsal, applied=True, maintenance_s=applied.maintenance_s,
        smoke_checks=applied.smoke_checks, recovered=recovered,
    )  # fmt: skip


__all__ = ["Rehearsal", "UpdateFailed", "UpdatePlan", "UpdateResult", "refresh_workers"]
