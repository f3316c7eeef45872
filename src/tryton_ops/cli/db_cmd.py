"""`tryton-ops db`: the databases of the deployment (list, init, update, backup, restore, ...).

Thin: every command calls tryton_ops.lifecycle; the admin password is read from a file, the
TRYTON_ADMIN_PASSWORD variable or a prompt, never from the command line.
"""

from __future__ import annotations

from pathlib import Path

import click

from tryton_ops.access.database import DatabaseError, list_databases
from tryton_ops.cli.base import (
    database_option,
    deprecated,
    emit_json,
    get_config,
    json_option,
    table,
)
from tryton_ops.errors import UsageError


def _reporter(as_json: bool = False):
    from tryton_ops.lifecycle.progress import NULL, RichReporter

    return NULL if as_json else RichReporter()


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _password_options(func):
    func = click.option("--prompt", is_flag=True, help="Ask for the new password of every user.")(
        func
    )
    return click.option(
        "--password-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File holding the new password of every user (else $TRYTON_ADMIN_PASSWORD, "
        "--prompt, or the configured admin password file).",
    )(func)


@click.group("db")
def db_group() -> None:
    """Database lifecycle."""


@db_group.command("list")
@click.option("--templates", is_flag=True, help="List the template cache instead.")
@json_option
@click.pass_context
def list_(ctx: click.Context, templates: bool, as_json: bool) -> None:
    """List the Tryton databases reachable with the configured URI."""
    config = get_config(ctx)
    if templates:
        from tryton_ops.lifecycle.templates import list_templates

        names = list_templates(config)
    else:
        names = list_databases(config)
    if as_json:
        emit_json(names)
        return
    marks = {} if templates else _marks(config, names)
    for name in names:
        mark = marks.get(name)
        click.echo(f"{name}  [neutralized {mark['at']}]" if mark else name)


def _marks(config, names: list[str]) -> dict[str, dict]:
    """The neutralization mark of each database that has one."""
    from tryton_ops.lifecycle.neutralize import read_mark

    found = {}
    for name in names:
        try:
            mark = read_mark(config, name)
        except DatabaseError:
            continue  # dropped meanwhile
        if mark:
            found[name] = mark
    return found


@db_group.command("init")
@database_option(positional=True, help="Database to create (default: database.name).")
@click.option(
    "--modules", "-m", "modules", multiple=True, help="Module to activate (repeat or comma list)."
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the admin password (else $TRYTON_ADMIN_PASSWORD, --prompt, the "
    "configured database.admin_password_file, or a generated one).",
)
@click.option("--prompt", is_flag=True, help="Ask for the admin password.")
@click.option("--no-template", is_flag=True, help="Build from scratch; do not use the cache.")
@json_option
@click.pass_context
def init(ctx, database, modules, password_file, prompt, no_template, as_json) -> None:
    """Create the database (-d, default: database.name) with its modules activated.

    The first database of a module set is built by trytond-admin and kept as a template; the
    next ones are copies of it (keyed by trytond version, modules and their file checksums).
    """
    from tryton_ops.lifecycle.init import init_database
    from tryton_ops.lifecycle.modules import check_installed
    from tryton_ops.lifecycle.password import resolve

    config = get_config(ctx)
    name = database or config.settings.database.name
    wanted = [m.strip() for item in modules for m in item.split(",") if m.strip()] or None

    def ask() -> str:
        return click.prompt(
            f"admin password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )

    check_installed(config.settings.database.modules if wanted is None else wanted)
    password = resolve(config, password_file, ask if prompt else None)  # may write a new one
    result = init_database(
        config, name, password, wanted, use_template=not no_template, reporter=_reporter(as_json)
    )
    if as_json:
        emit_json(
            {
                "name": result.name,
                "modules": result.modules,
                "from_template": result.from_template,
                "template": result.template,
                "seconds": round(result.seconds, 3),
                "password": password.source
                + (f" {password.file}" if password.file is not None else ""),
            }
        )
        return
    how = "copied from the template cache" if result.from_template else "built by trytond-admin"
    click.echo(
        f"created {result.name} ({', '.join(result.modules)}): {how} in {result.seconds:.1f} s"
    )
    where = f" in {password.file}" if password.file is not None else ""
    click.echo(f"  login admin, password from {password.source}{where}")


@db_group.command("update")
@database_option()
@click.argument("modules", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Update every activated module.")
@click.option("--dry-run", is_flag=True, help="Only say what would be updated, and why.")
@click.option("--rehearse-only", is_flag=True, help="Rehearse on a copy, report, stop there.")
@click.option(
    "--no-rehearse", is_flag=True, help="Apply without rehearsing on a copy first (the way "
    "back stays: backup, smoke check, restore on failure).",
)  # fmt: skip
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=1800,
    show_default=True,
    help="Seconds the update and its smoke check may take (on the copy, then live); past "
    "them it counts as failed.",
)
@click.option(
    "--no-backup", is_flag=True, help="Keep no archive (one is still taken as the way back, "
    "and deleted once the update passed).",
)  # fmt: skip
@click.option(
    "--recover", is_flag=True, help="Only finish what an interrupted update left: restore "
    "its backup, drop its rehearsal copy, switch maintenance off.",
)  # fmt: skip
@json_option
@click.pass_context
def update(
    ctx, database, modules, all_, dry_run, rehearse_only, no_rehearse, timeout, no_backup,
    recover, as_json,
) -> None:  # fmt: skip
    """Update the modules whose files changed since the last update, and their dependents.

    With MODULE arguments, those (and the modules depending on them); with --all, everything.
    The update is rehearsed on a copy first, then applied with maintenance on (503 for this
    database), a backup, a smoke check, and the backup restored on any failure (exit 1).
    """
    from tryton_ops.lifecycle.modules import ModuleNotInstalled
    from tryton_ops.lifecycle.update import update_database

    config = get_config(ctx)
    if database is None and modules and _old_database_argument(config, modules[0]):
        deprecated("the database as an argument", f"-d {modules[0]}")
        database, modules = modules[0], modules[1:]
    name = database or config.settings.database.name
    if all_ and modules:
        raise click.UsageError("give either --all or module names, not both")
    if rehearse_only and no_rehearse:
        raise click.UsageError("give either --rehearse-only or --no-rehearse, not both")
    if recover and (modules or all_ or dry_run or rehearse_only):
        raise click.UsageError("--recover takes only the database (-d)")
    if recover:
        _recover(config, name, as_json)
        return
    try:
        result = update_database(
            config,
            name,
            list(modules) or None,
            all_=all_,
            dry_run=dry_run,
            backup=not no_backup,
            reporter=_reporter(as_json),
            rehearse=not no_rehearse,
            rehearse_only=rehearse_only,
            timeout=timeout,
        )
    except ModuleNotInstalled as exc:
        if database is not None:
            raise
        raise ModuleNotInstalled(
            f"{exc} (the arguments are modules; the database is -d NAME)"
        ) from None
    if as_json:
        emit_json(_update_json(result))
        return
    _print_update(result)


def _recover(config, name: str, as_json: bool) -> None:
    from tryton_ops.lifecycle.lock import exclusive
    from tryton_ops.lifecycle.names import check_name
    from tryton_ops.lifecycle.safe_update import recover

    check_name(name)
    with exclusive(config, name, "update"):
        done = recover(config, name, _reporter(as_json))
    if as_json:
        emit_json({"name": name, "recovered": done})
    else:
        click.echo(done or f"nothing to recover: no interrupted update of {name}")


def _update_json(result) -> dict:
    plan = result.plan
    rehearsal = result.rehearsal
    return {
        "name": plan.name,
        "dry_run": result.dry_run,
        "modules": plan.modules,
        "reasons": plan.reasons,
        "rehearsal": None
        if rehearsal is None
        else {
            "seconds": round(rehearsal.seconds, 3),
            "modules": rehearsal.modules,
            "warnings": rehearsal.warnings,
            "smoke_checks": rehearsal.smoke_checks,
            "failure": rehearsal.failure or None,
        },
        "applied": result.applied,
        "maintenance_seconds": round(result.maintenance_s, 3),
        "smoke_checks": result.smoke_checks,
        "backup": str(result.backup) if result.backup else None,
        "workers": result.workers,
        "recovered": result.recovered,
        "seconds": round(result.seconds, 3),
    }


def _print_update(result) -> None:
    plan = result.plan
    if result.recovered:
        click.echo(f"first: {result.recovered}")
    if not plan.modules:
        click.echo(f"{plan.name} is up to date: no module file changed since the last update.")
        return
    verb = "updated" if result.applied else "would update"
    click.echo(f"{verb} {plan.name}:")
    for module in plan.modules:
        click.echo(f"  {module:24} {plan.reasons[module]}")
    if result.rehearsal is not None:
        rehearsal = result.rehearsal
        click.echo(
            f"rehearsal on a copy: passed in {rehearsal.seconds:.1f} s "
            f"({rehearsal.smoke_checks} smoke check(s))"
        )
        for warning in rehearsal.warnings:
            click.echo(f"  warning: {warning}")
    if not result.applied:
        return
    click.echo(
        f"applied: maintenance {result.maintenance_s:.1f} s, smoke check passed "
        f"({result.smoke_checks} check(s))"
    )
    if result.backup:
        click.echo(f"backup first: {result.backup}")
    if result.workers:
        click.echo(f"workers: {result.workers}")


@db_group.command("backup")
@database_option(positional=True)
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Archive file to write.")
@click.option(
    "--prune",
    is_flag=True,
    help="Then remove the archives of NAME the [backup] keep_daily/weekly/monthly policy "
    "does not keep (never the newest, never a file that is not one of our archives).",
)
@click.option(
    "--dry-run", is_flag=True, help="With --prune: back up nothing, say what pruning would remove."
)
@json_option
@click.pass_context
def backup(ctx, database, out, prune, dry_run, as_json) -> None:
    """Archive the database: its dump, attachment filestore and a manifest with checksums."""
    from tryton_ops.lifecycle.backup import backup as make_backup
    from tryton_ops.lifecycle.retention import prune as do_prune

    if dry_run and not prune:
        raise UsageError("--dry-run goes with --prune (a backup has nothing to rehearse)")
    config = get_config(ctx)
    name = database or config.settings.database.name
    result = None
    if not dry_run:
        result = make_backup(config, name, out, reporter=_reporter(as_json))
    decisions = do_prune(config, name, dry_run=dry_run) if prune else None
    if as_json:
        emit_json(_backup_json(result, decisions, dry_run))
        return
    if result is not None:
        files = len(result.manifest["members"]) - 1
        click.echo(
            f"backed up {name} to {result.path} ({_human(result.size)}, {files} attachment "
            f"file(s), {result.seconds:.1f} s)"
        )
    if decisions is not None:
        _echo_pruned(config, name, decisions, dry_run)


def _backup_json(result, decisions, dry_run: bool) -> dict:
    out: dict = {}
    if result is not None:
        out = {
            "path": str(result.path),
            "size": result.size,
            "seconds": round(result.seconds, 3),
            "members": len(result.manifest["members"]),
            "modules": sorted(result.manifest["modules"]),
        }
    if decisions is not None:
        out["pruned"] = {
            "dry_run": dry_run,
            "removed": [str(d.archive.path) for d in decisions if not d.keep],
            "kept": {str(d.archive.path): d.reasons for d in decisions if d.keep},
        }
    return out


def _echo_pruned(config, name: str, decisions, dry_run: bool) -> None:
    policy = config.settings.backup
    click.echo(
        f"retention: keep {policy.keep_daily} daily, {policy.keep_weekly} weekly, "
        f"{policy.keep_monthly} monthly archive(s) of {name} in {config.backups_dir}"
    )
    for decision in decisions:
        path = decision.archive.path.name
        if decision.keep:
            click.echo(f"  keep          {path}  ({', '.join(decision.reasons)})")
        else:
            click.echo(f"  {'would remove' if dry_run else 'removed':13} {path}")
    removed = sum(not d.keep for d in decisions)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {removed}, kept {len(decisions) - removed} archive(s)")


@db_group.command("verify")
@click.argument("archive", type=click.Path(path_type=Path))
@json_option
def verify(archive, as_json) -> None:
    """Check an archive completely (every member against its manifest checksum)."""
    from tryton_ops.lifecycle.restore import verify as check

    manifest = check(archive, reporter=_reporter(as_json))
    summary = {
        "database": manifest["database"],
        "backend": manifest["backend"],
        "created": manifest.get("created_iso"),
        "trytond": manifest.get("trytond"),
        "modules": sorted(manifest.get("modules", {})),
        "members": len(manifest["members"]),
    }
    if as_json:
        emit_json(summary)
    else:
        click.echo(
            f"ok: {summary['database']} ({summary['backend']}, trytond {summary['trytond']}, "
            f"{summary['created']}), {summary['members']} member(s) verified"
        )


@db_group.command("restore")
@click.argument("archive", type=click.Path(path_type=Path))
@database_option(positional=True, help="Database to restore into (default: the one backed up).")
@click.option("--replace", is_flag=True, help="Replace it if it exists (after verification).")
@click.option("--deactivate-cron", is_flag=True, help="Deactivate every scheduled action.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before replacing.")
@click.option("--force", is_flag=True, help="Replace it even while the running stack serves it.")
@json_option
@click.pass_context
def restore(ctx, archive, database, replace, deactivate_cron, yes, force, as_json) -> None:
    """Restore ARCHIVE as the database -d (default: the one it was backed up from).

    The archive is verified completely and restored aside first: a corrupt, truncated or
    foreign archive is refused and the existing database is left untouched.
    """
    from tryton_ops.access.database import database_exists
    from tryton_ops.lifecycle.restore import restore as do_restore
    from tryton_ops.lifecycle.restore import verify as check
    from tryton_ops.lifecycle.served import refuse_if_served

    config = get_config(ctx)
    manifest = None if database is not None else check(archive)
    name = database if database is not None else manifest["database"]
    if replace:
        from tryton_ops.lifecycle.neutralize import refuse_over_production

        refuse_if_served(config, name, "replace it", force)
        manifest = manifest or check(archive)
        if manifest.get("neutralized"):
            refuse_over_production(config, name, f"the backup of {manifest['database']!r}")
    if replace and not yes and database_exists(config, name):
        click.confirm(f"replace the existing database {name!r}?", abort=True, err=True)
    result = do_restore(
        config, archive, name, replace, deactivate_cron, reporter=_reporter(as_json)
    )
    manifest = result.manifest
    if as_json:
        emit_json(
            {
                "name": result.name,
                "replaced": result.replaced,
                "removed_from_redis": _forget(config, name, echo=False) if result.replaced else {},
                "from": manifest["database"],
                "created": manifest.get("created_iso"),
                "seconds": round(result.seconds, 3),
            }
        )
        return
    click.echo(
        f"restored {result.name} from {archive} (backup of {manifest['database']} taken "
        f"{manifest.get('created_iso')}){' replacing the old one' if result.replaced else ''}"
    )
    if result.replaced:
        _forget(config, result.name)
    if manifest.get("trytond") and manifest["trytond"] != _trytond_version():
        click.echo(
            f"note: made with trytond {manifest['trytond']}; run `tryton-ops db update "
            f"-d {result.name} --all` to migrate it to {_trytond_version()}"
        )


def _trytond_version() -> str:
    from importlib.metadata import version

    return version("trytond")


def _old_database_argument(config, word: str) -> bool:
    """`db update NAME [MODULE...]` (the old form): NAME is an existing database, no module."""
    from tryton_ops.access.database import database_exists
    from tryton_ops.lifecycle.modules import installed_modules

    return word not in installed_modules() and database_exists(config, word)


def _copy_names(config, database: str | None, names: tuple[str, ...]) -> tuple[str, str]:
    """(source, target): `-d SOURCE TARGET`, or the old `SOURCE TARGET` with a note."""
    if len(names) == 2 and database is None:
        deprecated("the source database as an argument", f"-d {names[0]}")
        return names[0], names[1]
    if len(names) != 1:
        raise click.UsageError("give one TARGET (and the database to copy with -d)")
    return database or config.settings.database.name, names[0]


@db_group.command("copy")
@database_option(help="Database to copy (default: database.name).")
@click.argument("names", nargs=-1, required=True, metavar="TARGET")
@click.option("--replace", is_flag=True, help="Replace TARGET if it exists.")
@click.option(
    "--neutralize", is_flag=True, help="Make TARGET a neutralized copy (see `db neutralize`)."
)
@_password_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask before replacing.")
@click.option(
    "--force", is_flag=True, help="Replace TARGET even while the running stack serves it."
)
@json_option
@click.pass_context
def copy(
    ctx, database, names, replace, neutralize, password_file, prompt, yes, force, as_json
) -> None:
    """Copy the database -d (and its filestore) to TARGET (a new one, unless --replace).

    With --neutralize the copy is made aside, neutralized there, and only then appears as
    TARGET. A neutralized copy never replaces this deployment's production database.
    """
    from tryton_ops.access.database import database_exists
    from tryton_ops.lifecycle.lifecycle import copy_database
    from tryton_ops.lifecycle.names import check_name
    from tryton_ops.lifecycle.neutralize import neutralize as do_neutralize
    from tryton_ops.lifecycle.neutralize import read_mark, refuse_over_production
    from tryton_ops.lifecycle.served import refuse_if_served

    config = get_config(ctx)
    source, target = _copy_names(config, database, names)
    check_name(source)
    check_name(target)
    if (password_file or prompt) and not neutralize:
        raise click.UsageError("--password-file and --prompt go with --neutralize")
    if replace:
        if neutralize:
            refuse_over_production(config, target, "the copy")
        elif database_exists(config, source) and read_mark(config, source) is not None:
            refuse_over_production(config, target, f"{source!r}")
        refuse_if_served(config, target, "replace it", force)
        if not yes and database_exists(config, target):
            click.confirm(f"replace the existing database {target!r}?", abort=True, err=True)
    replacing = replace and database_exists(config, target)
    reports = []
    prepare = None
    if neutralize:
        password = _password(config, password_file, prompt, target)

        def prepare(scratch: str, files: Path) -> None:
            reports.append(do_neutralize(config, scratch, password.value, source, files))
            reports[-1].name = target  # it was made aside, under a scratch name

    method = copy_database(
        config, source, target, reporter=_reporter(as_json), replace=replace, prepare=prepare
    )
    removed = _forget(config, target, echo=not as_json) if replacing else {}
    if as_json:
        emit_json(
            {
                "source": source,
                "target": target,
                "method": method,
                "replaced": replacing,
                "removed_from_redis": removed,
                "neutralized": _report_json(reports[0]) if reports else None,
            }
        )
        return
    click.echo(f"copied {source} to {target} ({method})" + (" replacing it" if replacing else ""))
    if reports:
        _print_neutralized(reports[0], password)


def _password(config, password_file, prompt, name):
    from tryton_ops.lifecycle.password import resolve

    def ask() -> str:
        return click.prompt(
            f"new password of every user of {name}", hide_input=True, confirmation_prompt=True,
            err=True,
        )  # fmt: skip

    return resolve(config, password_file, ask if prompt else None)


def _report_json(report) -> dict:
    return {
        "seconds": round(report.seconds, 3),
        "modules": report.modules,
        "rows": report.rows,
        "users": report.users,
        "files_removed": report.files,
    }


def _print_neutralized(report, password) -> None:
    changed = sum(report.rows.values())
    where = f" in {password.file}" if password.file is not None else ""
    click.echo(
        f"neutralized {report.name} in {report.seconds:.1f} s: {changed} value(s) or row(s) "
        f"replaced or removed ({', '.join(report.modules)}), {report.files} stored file(s) "
        f"removed, cron off; every user's password is the one from {password.source}{where}"
    )


@db_group.command("neutralize")
@database_option(required=True, help="The database to neutralize.")
@_password_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Neutralize it even though this deployment serves it.")
@json_option
@click.pass_context
def neutralize(ctx, database, password_file, prompt, yes, force, as_json) -> None:
    """Make database NAME safe to try things on: cron and triggers off, outgoing mail
    removed, every password reset, personal data replaced by consistent fake values, and a
    mark (`status`, `db list`). Refused for the production database unless --force."""
    from tryton_ops.access.database import database_exists
    from tryton_ops.lifecycle.names import check_name
    from tryton_ops.lifecycle.neutralize import is_production
    from tryton_ops.lifecycle.neutralize import neutralize as do_neutralize

    name = database
    config = get_config(ctx)
    check_name(name)
    if not database_exists(config, name):
        raise DatabaseError(f"database {name!r} does not exist")
    if is_production(config, name) and not force:
        raise DatabaseError(
            f"database {name!r} is this deployment's production database (database.name, or "
            "served by the running stack): refusing to replace its data with fake values; "
            "neutralize a copy (`db copy ... --neutralize`), or pass --force"
        )
    password = _password(config, password_file, prompt, name)
    if not yes:
        click.confirm(
            f"replace the personal data of {name!r} with fake values and reset every "
            "password? This cannot be undone",
            abort=True,
            err=True,
        )
    report = do_neutralize(config, name, password.value)
    removed = _forget(config, name, echo=not as_json)  # cached values of the real data
    if as_json:
        emit_json({"name": name, **_report_json(report), "removed_from_redis": removed})
        return
    _print_neutralized(report, password)


@db_group.command("drop")
@database_option(positional=True, required=True, help="Database to drop (no default).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Drop it even while the running stack serves it.")
@click.pass_context
def drop(ctx, database, yes, force) -> None:
    """Drop the database -d, its attachment filestore and what Redis holds of it.

    Redis holds cached values, analyzer records and sessions. Asks first unless --yes;
    refused while the running stack serves the database unless --force."""
    from tryton_ops.access.database import database_exists
    from tryton_ops.lifecycle.lifecycle import drop as do_drop
    from tryton_ops.lifecycle.names import check_name
    from tryton_ops.lifecycle.served import refuse_if_served

    config = get_config(ctx)
    name = database
    check_name(name)
    if not database_exists(config, name):
        raise DatabaseError(f"database {name!r} does not exist")
    refuse_if_served(config, name, "drop it", force)
    if not yes:
        click.confirm(
            f"drop database {name!r} and its attachments? This cannot be undone",
            abort=True,
            err=True,
        )
    do_drop(config, name)
    click.echo(f"dropped {name}")
    _forget(config, name)


def _forget(config, name: str, echo: bool = True) -> dict[str, str]:
    """Remove what Redis holds of the database `name` that was dropped or replaced (cached
    values, analyzer records, sessions: the old one's, wrong for whatever comes next);
    returns, by part, what was removed or why it was not."""
    from tryton_ops.lifecycle.forget import forget_database

    found = forget_database(config, name)
    for done in found if echo else ():
        if done.error is None:
            click.echo(f"  removed from Redis ({done.part}): {done.removed}")
        else:
            click.echo(f"warning: {done.part} data of {name} left in Redis: {done.error}", err=True)
    return {done.part: done.removed or f"error: {done.error}" for done in found}


@db_group.group("templates")
def templates_group() -> None:
    """The template cache: the databases `db init` copies (see docs/admin.md)."""


@templates_group.command("list")
@json_option
@click.pass_context
def templates_list(ctx, as_json: bool) -> None:
    """Cached templates: module set, trytond version, size, and whether the next init of that
    module set would copy it (stale: trytond or a module file changed since)."""
    from dataclasses import asdict

    from tryton_ops.lifecycle.templates import describe

    found = describe(get_config(ctx))
    if as_json:
        emit_json([asdict(info) for info in found])
        return
    if not found:
        click.echo("no cached template")
        return
    rows = [
        {
            "name": info.name,
            "modules": ", ".join(info.modules) or "?",
            "trytond": info.trytond or "?",
            "size": _human(info.size_bytes),
            "state": "current" if info.current else "stale",
        }
        for info in found
    ]
    click.echo(table(rows, ["name", "modules", "trytond", "size", "state"]))


@templates_group.command("prune")
@click.option("--all", "all_", is_flag=True, help="Remove current templates too.")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.pass_context
def templates_prune(ctx, all_: bool, dry_run: bool) -> None:
    """Remove the stale templates (with --all, every one: the next init of each module set
    is built by trytond-admin again)."""
    from tryton_ops.lifecycle.templates import describe, drop

    config = get_config(ctx)
    doomed = [info for info in describe(config) if all_ or not info.current]
    for info in doomed:
        if not dry_run:
            drop(config, info.name)
        state = "current" if info.current else "stale"
        verb = "would remove" if dry_run else "removed"
        click.echo(f"{verb} {info.name} ({', '.join(info.modules) or '?'}, {state})")
    if not doomed:
        click.echo("nothing to prune" + ("" if all_ else " (no stale template; --all removes all)"))
