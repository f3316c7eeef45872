"""A new database for a module set, from the template cache when one was built.

The one way tryton-ops creates a database: `db init`, `up` (first run) and the test harness.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tryton_ops.access.database import DatabaseError, connect, database_exists, name_taken
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle import templates
from tryton_ops.lifecycle.database import (
    _create_empty,
    _load_demo,
    _record_checksums,
    _run_admin,
    drop_database,
)
from tryton_ops.lifecycle.modules import check_installed
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.password import AdminPassword, as_file, ensure_admin_password, resolve
from tryton_ops.lifecycle.progress import NULL, Reporter


@dataclass(frozen=True)
class InitResult:
    name: str
    modules: list[str]
    from_template: bool
    template: str
    seconds: float


def init_database(
    config: LoadedConfig,
    name: str,
    password: AdminPassword | None = None,
    modules: list[str] | None = None,
    use_template: bool = True,
    reporter: Reporter = NULL,
) -> InitResult:
    """Create `name` with `modules` activated; a half-made database is removed on failure.

    Without `password`, the deployment's own is used (see password.resolve).
    """
    started = time.perf_counter()
    check_name(name)
    settings = config.settings.database
    modules = sorted(set(settings.modules if modules is None else modules))
    check_installed(modules)
    if database_exists(config, name):
        raise DatabaseError(f"database {name!r} already exists")
    if name_taken(config, name):  # never dropped by the clean-up below: it is not ours
        raise DatabaseError(
            f"database {name!r} exists but is not a Tryton database: drop or rename it, or "
            "choose another name"
        )
    password = password or resolve(config)  # generated only once the database can be made
    key = templates.TemplateKey.of(config, modules)
    hit = use_template and templates.exists(config, key)
    try:
        if hit:
            with reporter.stage(f"copying template {key.name}"):
                templates.clone(config, key, name)
            with connect(config, name) as session:
                ensure_admin_password(session, password.value)
        else:
            with reporter.stage(f"initialising {name} (trytond-admin, {', '.join(modules)})"):
                _create_empty(config, name)
                with as_file(password) as password_file:
                    _run_admin(config, name, modules, password_file)
                _record_checksums(config, name)
            if use_template:
                with reporter.stage("saving it as a template for the next init"):
                    templates.save(config, key, name)
        if settings.demo_records:
            with reporter.stage(f"loading {settings.demo_records} demo records"):
                _load_demo(config, name, settings.demo_records)
    except BaseException:
        drop_database(config, name)
        raise
    return InitResult(name, modules, hit, key.name, time.perf_counter() - started)
