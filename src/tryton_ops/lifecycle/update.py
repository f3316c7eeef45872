"""`db update`: update only the modules whose files changed, plus the modules depending on them.

The checksums of every activated module's files are recorded in the database (table
ops_module_checksum) at init and after each update; a module whose current checksum differs, or
that has none recorded, needs an update, and so does every activated module depending on it.
A backup is taken first (unless told otherwise) and one update at a time may run per database.
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
    is_sqlite,
)
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.lifecycle.backup import backup as make_backup
from tryton_ops.lifecycle.checksums import changed_modules, current_checksums, recorded_checksums
from tryton_ops.lifecycle.database import _record_checksums, _run, trytond_script
from tryton_ops.lifecycle.lock import exclusive
from tryton_ops.lifecycle.modules import check_installed, dependency_closure, dependents
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.progress import NULL, Reporter


@dataclass(frozen=True)
class UpdatePlan:
    name: str
    modules: list[str]  # to update, dependencies first
    reasons: dict[str, str]  # module -> why


@dataclass(frozen=True)
class UpdateResult:
    plan: UpdatePlan
    dry_run: bool
    backup: Path | None = None
    seconds: float = 0.0
    workers: str = ""  # how running workers get the new pool
    notes: list[str] = field(default_factory=list)


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
) -> UpdateResult:
    started = time.perf_counter()
    check_name(name)
    if dry_run:
        return UpdateResult(plan_update(config, name, modules, all_), dry_run=True)
    with exclusive(config, name, "update"):
        plan = plan_update(config, name, modules, all_)
        if not plan.modules:
            return UpdateResult(plan, dry_run=False, seconds=time.perf_counter() - started)
        archive = None
        if backup:
            archive = make_backup(config, name, reporter=reporter).path
        with reporter.stage(f"updating {', '.join(plan.modules)} (trytond-admin)"):
            cmd = [trytond_script("trytond-admin"), "-d", name, "-u", *plan.modules]
            cmd.append("--activate-dependencies")
            _run(cmd, trytond_env(config), f"updating {name!r}", stdin="\n")
        _record_checksums(config, name)
        workers = refresh_workers(config, name)
    return UpdateResult(plan, False, archive, time.perf_counter() - started, workers)


def refresh_workers(config: LoadedConfig, name: str) -> str:
    """Make running workers load the new pool; says how.

    trytond-admin already clears the caches and calls the configured cache class's
    refresh_pool: stock MemoryCache tells other processes over NOTIFY only on PostgreSQL with
    clean_timeout = 0, RedisCache through Redis. Otherwise a local stack serving this database
    is reloaded gracefully (new workers, no failed request).
    """
    cache = config.settings.cache
    if cache.backend == "redis":
        return "pool refresh through the shared cache (Redis)"
    if not is_sqlite(config) and cache.clean_timeout == 0:
        return "pool refresh over PostgreSQL NOTIFY"
    from tryton_ops.deploy import local_stack

    state = local_stack.running(config)
    if state is None or state.database != name:
        return "no local stack serving it; restart or reload the workers that do"
    local_stack.reload(config)
    return "local stack reloaded gracefully"
