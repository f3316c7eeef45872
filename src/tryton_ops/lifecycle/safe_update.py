"""An update that cannot leave a broken database behind: rehearsed, then applied with a way back.

1. Rehearsal: the update runs on a scratch copy of the database (CREATE DATABASE ... TEMPLATE
   on PostgreSQL when the database is idle, else dump and restore; the SQLite online backup),
   followed by the smoke check (lifecycle.smoke). Its duration, warnings and failure are
   reported; nothing live is touched.
2. Apply: maintenance on (the front answers 503 + Retry-After for this database; cron and queue
   workers are stopped), a backup, the live update, the smoke check. Any failure (trytond-admin
   error, smoke check, the time limit, Ctrl-C or SIGTERM) restores the backup; the workers keep
   the pool they had. On success the local stack's workers are replaced while still in
   maintenance, so none serves the new database with the old pool. Maintenance goes off when
   the command ends, whatever happened.
3. A run killed outright (SIGKILL, OOM) is undone by its watchdog (lifecycle.watchdog) as soon
   as it is gone; should the watchdog die too (power loss), the journal (lifecycle.journal)
   stays, and the next `db update` of that database, or `db update --recover`, finishes the
   job: it drops the rehearsal copy, or restores the backup, and switches maintenance off.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tryton_ops.access.database import DatabaseError, is_sqlite
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.lifecycle import journal, watchdog
from tryton_ops.lifecycle.backup import backup as make_backup
from tryton_ops.lifecycle.database import _record_checksums, _run, drop_database, trytond_script
from tryton_ops.lifecycle.lifecycle import copy_database_only
from tryton_ops.lifecycle.names import REHEARSAL_PREFIX
from tryton_ops.lifecycle.progress import NULL, Reporter
from tryton_ops.lifecycle.restore import restore_in_place
from tryton_ops.lifecycle.smoke import run_smoke

DEFAULT_TIMEOUT_S = 1800.0
MAX_WARNINGS = 20


class UpdateFailed(DatabaseError):
    """The update failed; the message says where and that nothing changed."""


class Interrupted(BaseException):
    """SIGTERM during the apply: handled like Ctrl-C (the way back runs)."""


@dataclass(frozen=True)
class UpdatePlan:
    name: str
    modules: list[str]  # to update, dependencies first
    reasons: dict[str, str]  # module -> why


@dataclass(frozen=True)
class Rehearsal:
    """The update run on a scratch copy: how it went, before anything live is touched."""

    copy: str
    seconds: float
    modules: list[str]
    warnings: list[str]
    failure: str = ""  # empty: the update and the smoke check passed
    smoke_checks: int = 0


@dataclass(frozen=True)
class Applied:
    backup: Path | None
    workers: str
    maintenance_s: float
    smoke_checks: int


def smoke_password(config: LoadedConfig) -> str | None:
    """The admin password the smoke check logs in with: $TRYTON_ADMIN_PASSWORD, else the
    configured (or generated) admin password file; None when there is neither (the check
    then opens an admin session without checking a password)."""
    from tryton_ops.lifecycle.database import admin_password
    from tryton_ops.lifecycle.password import ENV_VAR

    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    try:
        return admin_password(config, generate=False)[0]
    except DatabaseError:
        return None


def _admin_update(config: LoadedConfig, name: str, modules: list[str], timeout: float) -> str:
    """trytond-admin -u on `name`; its stderr (warnings)."""
    cmd = [trytond_script("trytond-admin"), "-d", name, "-u", *modules, "--activate-dependencies"]
    _, err = _run(cmd, trytond_env(config), f"trytond-admin -u on {name!r}", "\n", timeout)
    return err


def warnings_of(log: str) -> list[str]:
    """The WARNING lines trytond logged, without their prefix, each once."""
    found: list[str] = []
    for line in log.splitlines():
        _, sep, message = line.partition(" WARNING ")
        if sep and message.strip() not in found:
            found.append(message.strip())
    return found[:MAX_WARNINGS]


class _Clock:
    """What is left of the time limit."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise UpdateFailed("the time limit was reached")
        return left


def rehearse_update(
    config: LoadedConfig, plan: UpdatePlan, password: str | None, timeout: float, reporter: Reporter
) -> Rehearsal:
    copy = REHEARSAL_PREFIX + secrets.token_hex(4)
    journal.start(config, plan.name, "rehearsing", rehearsal=copy)
    started = time.perf_counter()
    warnings: list[str] = []
    failure = ""
    checks = 0
    try:
        with reporter.stage(f"rehearsing on a copy ({copy})"):
            copy_database_only(config, plan.name, copy)
            clock = _Clock(timeout)
            try:
                warnings = warnings_of(_admin_update(config, copy, plan.modules, clock.left()))
                smoke = run_smoke(config, copy, plan.modules, password, clock.left())
                checks = smoke.checks
                if not smoke.ok:
                    failure = f"smoke check: {smoke.failure}"
            except DatabaseError as exc:
                failure = f"update: {exc}"
    finally:
        drop_database(config, copy)
        journal.clear(config, plan.name)
    return Rehearsal(copy, time.perf_counter() - started, plan.modules, warnings, failure, checks)


def apply_update(
    config: LoadedConfig,
    plan: UpdatePlan,
    password: str | None,
    timeout: float,
    keep_backup: bool = True,
    reporter: Reporter = NULL,
) -> Applied:
    name = plan.name
    entry = journal.start(config, name, "backup", run_dir=str(config.run_dir))
    dog = watchdog.start(config, name)
    try:
        if dog is not None:
            entry = journal.advance(config, entry, "backup", watchdog=dog.pid)
        return _apply_with_way_back(config, plan, password, timeout, keep_backup, reporter, entry)
    finally:
        watchdog.stop(dog)


def _apply_with_way_back(
    config: LoadedConfig,
    plan: UpdatePlan,
    password: str | None,
    timeout: float,
    keep_backup: bool,
    reporter: Reporter,
    entry: journal.Journal,
) -> Applied:
    name = plan.name
    archive: Path | None = None
    with _maintenance(config, name) as since, _sigterm_interrupts():
        try:
            archive = make_backup(config, name, reporter=reporter, record=keep_backup).path
            entry = journal.advance(config, entry, "applying", backup=str(archive))
            checks = _apply(config, plan, password, timeout, reporter)
            workers = refresh_workers(config, name)
        except BaseException as exc:
            if archive is None:  # the backup failed: the live database was not touched
                journal.clear(config, name)
                raise UpdateFailed(
                    f"the backup before the update failed: {_why(exc)}\nnothing changed"
                ) from None
            try:
                with reporter.stage(f"restoring {name} from {archive.name}"):
                    restore_in_place(config, archive, name)
            except BaseException as again:
                raise UpdateFailed(
                    f"the update of {name!r} failed: {_why(exc)}\nrestoring the backup "
                    f"{archive} failed too: {_why(again)}\nrun `tryton-ops db update -d {name} "
                    "--recover` to try again"
                ) from None
            journal.clear(config, name)
            if not keep_backup:
                archive.unlink(missing_ok=True)
            raise UpdateFailed(
                f"the update of {name!r} failed: {_why(exc)}\nthe database was restored from "
                "the backup taken just before: nothing changed"
            ) from None
        journal.clear(config, name)
        maintenance_s = time.monotonic() - since
    if not keep_backup:
        archive.unlink(missing_ok=True)
        archive = None
    return Applied(archive, workers, maintenance_s, checks)


def _apply(
    config: LoadedConfig, plan: UpdatePlan, password: str | None, timeout: float, reporter: Reporter
) -> int:
    """The live update and its smoke check; raises on any failure (the caller restores)."""
    clock = _Clock(timeout)
    with reporter.stage(f"updating {', '.join(plan.modules)} (trytond-admin)"):
        _admin_update(config, plan.name, plan.modules, clock.left())
    _record_checksums(config, plan.name)
    with reporter.stage("smoke check"):
        smoke = run_smoke(config, plan.name, plan.modules, password, clock.left())
    if not smoke.ok:
        raise UpdateFailed(f"smoke check: {smoke.failure}")
    return smoke.checks


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(exc, Interrupted):
        return "interrupted (SIGTERM)"
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def _maintenance(config: LoadedConfig, name: str) -> Iterator[float]:
    """Maintenance on for `name` for the duration of the block, off whatever happens."""
    switch_on(config, name)
    try:
        yield time.monotonic()
    finally:
        switch_off(config, name, config.run_dir)


def switch_on(config: LoadedConfig, name: str) -> None:
    from tryton_ops.deploy import local_stack, maintenance

    maintenance.enter(config.run_dir, name, "db update")
    state = local_stack.running(config)
    if state is not None and state.database == name:
        local_stack.pause_background(config)


def switch_off(config: LoadedConfig, name: str, run_dir: Path) -> None:
    from tryton_ops.deploy import local_stack, maintenance

    with contextlib.suppress(Exception):  # the stack may be gone; the flag must go regardless
        state = local_stack.running(config)
        if state is not None and state.database == name:
            local_stack.resume_background(config)
    maintenance.leave(run_dir, name)


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises Interrupted, so the way back runs as after Ctrl-C (main thread only)."""

    def _raise(signum, frame):
        raise Interrupted()

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def recover(config: LoadedConfig, name: str, reporter: Reporter = NULL) -> str | None:
    """Finish what a killed update of `name` left (the caller holds the update lock, so its
    process is gone); says what was done, None when there was nothing."""
    entry = journal.read(config, name)
    if entry is None:
        return None
    if entry.stage == "rehearsing" and entry.rehearsal:
        drop_database(config, entry.rehearsal)
        done = f"dropped the rehearsal copy {entry.rehearsal} of an interrupted update"
    elif entry.stage == "backup":
        done = "an interrupted update had not touched the database yet"
    elif entry.stage == "applying" and entry.backup and Path(entry.backup).is_file():
        with reporter.stage(f"restoring {name} from {Path(entry.backup).name}"):
            restore_in_place(config, Path(entry.backup), name)
        done = f"restored {name} from {entry.backup}, taken before an interrupted update"
    else:
        raise DatabaseError(
            f"{journal.journal_file(config, name)} records an interrupted update of {name!r} "
            f"that cannot be undone automatically (stage {entry.stage!r}, backup "
            f"{entry.backup!r}): check the database, restore a backup if needed, then "
            "remove that file"
        )
    switch_off(config, name, Path(entry.run_dir) if entry.run_dir else config.run_dir)
    journal.clear(config, name)
    return done


def refresh_workers(config: LoadedConfig, name: str) -> str:
    """Make running workers load the new pool; says how.

    trytond-admin already clears the caches and calls the configured cache class's
    refresh_pool: stock MemoryCache tells other processes over NOTIFY only on PostgreSQL with
    clean_timeout = 0, RedisCache through Redis. Otherwise a local stack serving this database
    is reloaded gracefully (new workers, no failed request) and, still in maintenance, waited
    for until every worker is a new one.
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
    before = local_stack.app_worker_pids(config)
    local_stack.reload(config)
    if not local_stack.wait_workers_replaced(config, before):
        return "local stack reloaded gracefully (some old workers were still finishing)"
    return "local stack reloaded gracefully"
