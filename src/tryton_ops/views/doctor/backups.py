"""Is there a recent backup of the database?"""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.access.database import DatabaseError, database_exists
from tryton_ops.config.durations import format_duration
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding
from tryton_ops.views.status import backup_status


def check(ctx: Context) -> Iterator[Finding]:
    name = ctx.database
    try:
        if not database_exists(ctx.config, name):
            return
    except DatabaseError:
        return  # the `database` check reports it
    last = backup_status(ctx.config, name)
    if last is not None and not last["stale"]:
        return
    policy = ctx.config.settings.backup
    when = (
        "never backed up"
        if last is None
        else f"last backup {format_duration(last['age_s'])} ago, older than backup.max_age "
        f"({policy.max_age})"
    )
    if policy.schedule:
        fix = (
            f"The daily backup at {policy.at} did not succeed: see `tryton-ops logs backup` "
            f"(local stack) or `journalctl -u tryton-{ctx.config.settings.name}-backup` "
            f"(systemd); run `tryton-ops db backup -d {name} --prune` by hand to see the error."
        )
    else:
        fix = (
            "Set backup.schedule = true (a systemd timer, or a program of `up`, runs "
            f"`tryton-ops db backup --prune` daily) or run `tryton-ops db backup -d {name}` "
            "yourself; and a restore drill now and then (docs/admin.md)."
        )
    yield Finding(
        "backups.none-recent",
        "warning",
        f"database {name!r}: {when}",
        "Without a recent tested backup, a bad update or a disk failure loses data.",
        fix,
    )
