"""`demo load`: check everything, then run the loader inside trytond and show its progress.

Nothing is written before the scale, the name, the installed and activated modules and the
database's demo mark are checked. The loader runs in a subprocess reading the deployment's
rendered trytond.conf (like `db init`), so the backend, cache and mixins are the configured ones.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from tryton_ops.access.database import activated_modules, connect, database_exists
from tryton_ops.capacity import modules, sizing
from tryton_ops.capacity.marker import check_demo
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.errors import OpsError
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.progress import NULL, Reporter


class WorkloadError(OpsError):
    """The workload could not be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class LoadResult:
    name: str
    scale: int
    previous_scale: int | None  # None: the database was not a demo one before
    database_created: bool
    created: dict[str, int]
    seconds: float


def load(
    config: LoadedConfig,
    name: str,
    scale: int,
    create: Callable[[], bool] = lambda: False,
    reporter: Reporter = NULL,
) -> LoadResult:
    """Load the workload at `scale` into `name`; `create()` says whether a missing database
    may be made (by `db init` with the workload's modules)."""
    started = time.perf_counter()
    sizing.check_scale(scale)
    check_name(name)
    missing = modules.missing()
    if missing:
        raise WorkloadError(
            f"module(s) not installed: {', '.join(missing)}; install them with pip install "
            + " ".join(f'"{r}"' for r in modules.pip_requirements(_series()))
        )
    created_db = False
    if not database_exists(config, name):
        if not create():
            raise WorkloadError(
                f"database {name!r} does not exist: create it with `tryton-ops db init -d {name} "
                f"-m {','.join(modules.MODULES)}`, or let demo load do it (--yes)"
            )
        _create_database(config, name, reporter)
        created_db = True
    previous = _check_database(config, name)
    created = _run_loader(config, name, scale, reporter)
    return LoadResult(name, scale, previous, created_db, created, time.perf_counter() - started)


def _series() -> str:
    from importlib.metadata import version

    return ".".join(version("trytond").split(".")[:2])


def _create_database(config: LoadedConfig, name: str, reporter: Reporter) -> None:
    """The same path as `tryton-ops db init -d NAME -m MODULES` (template cache included)."""
    from tryton_ops.lifecycle.init import init_database
    from tryton_ops.lifecycle.password import resolve

    init_database(config, name, resolve(config), list(modules.MODULES), reporter=reporter)


def _check_database(config: LoadedConfig, name: str) -> int | None:
    with connect(config, name) as session:
        activated = set(activated_modules(session))
        inactive = [m for m in modules.MODULES if m not in activated]
        if inactive:
            raise WorkloadError(
                f"module(s) not activated in {name!r}: {', '.join(inactive)}; the workload "
                f"needs a database made with `tryton-ops db init -d NEW_NAME -m "
                f"{','.join(modules.MODULES)}` (or `demo load -d NEW_NAME --yes`)"
            )
        return check_demo(session, name)


def _run_loader(config: LoadedConfig, name: str, scale: int, reporter: Reporter) -> dict:
    """The loader subprocess; its JSON lines drive the reporter's stages."""
    cmd = [sys.executable, "-m", "tryton_ops.capacity.loader"]
    request = json.dumps({"database": name, "scale": scale})
    created: dict[str, int] = {}
    with tempfile.TemporaryFile(mode="w+") as errors, contextlib.ExitStack() as stages:
        proc = subprocess.Popen(
            cmd,
            env=trytond_env(config),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        proc.stdin.write(request)
        proc.stdin.close()
        stage = None
        for line in proc.stdout:
            message = json.loads(line)
            if "stage" in message:
                stages.close()
                stage = stages.enter_context(reporter.stage(message["stage"], message["total"]))
            elif "advance" in message and stage is not None:
                stage.advance(message["advance"])
            elif "created" in message:
                created = message["created"]
        code = proc.wait()
        stages.close()
        if code != 0:
            errors.seek(0)
            tail = "\n".join(errors.read().strip().splitlines()[-15:])
            raise WorkloadError(
                f"loading the workload into {name!r} failed (exit {code}); what was committed "
                f"stays and the next run completes it:\n{tail}"
            )
    return created
