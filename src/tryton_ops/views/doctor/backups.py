"""Is there a recent backup of the database?"""

from __future__ import annotations

from collections.abc import Iterator

from tryton_ops.access.database import DatabaseError, database_exists
from tryton_ops.lifecycle.backup import last_backup
from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import Finding

MAX_AGE_S = 26 * 3600  # a daily backup, with slack


def check(ctx: Context) -> Iterator[Finding]:
    name = ctx.database
    try:
        if not database_exists(ctx.config, name):
            return
    except DatabaseError:
        return  # the `database` check reports it
    last = last_backup(ctx.config, name)
    if last is None or last["age_s"] > MAX_AGE_S:
        when = (
            "never backed up" if last is None else f"last backup {last['age_s'] / 3600:.0f} h ago"
        )
        yield Finding(
            "backups.none-recent",
            "warning",
            f"database {name!r}: {when}",
            "Without a recent tested backup, a bad update or a disk failure loses data.",
            f"Run `tryton-ops db backup -d {name}` daily (see docs/admin.md) and a restore drill "
            "now and then.",
        )
