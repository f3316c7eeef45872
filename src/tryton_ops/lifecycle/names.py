"""Database names the lifecycle commands accept."""

from __future__ import annotations

from tryton_ops.access.database import DatabaseError
from tryton_ops.config.schema import NAME_RE

TEMPLATE_PREFIX = "ops_tmpl_"  # the template cache's databases (lifecycle.templates)
REHEARSAL_PREFIX = "ops_rehearse_"  # the scratch copies `db update` rehearses on
RESERVED_PREFIXES = (TEMPLATE_PREFIX, "ops_restore_", REHEARSAL_PREFIX, "pg_")
RESERVED = {"postgres", "template0", "template1"}


def check_name(name: str) -> str:
    """Refuse names that are not plain identifiers, or that tryton-ops uses internally.

    The name becomes a file name on SQLite and a directory of the filestore, so anything
    like `../x` or `a/b` must never get through.
    """
    if not NAME_RE.match(name):
        raise DatabaseError(
            f"bad database name {name!r}: start with a letter or underscore, then only letters, "
            "digits, '_' or '-' (at most 63 characters)"
        )
    if name.startswith(TEMPLATE_PREFIX):
        raise DatabaseError(
            f"bad database name {name!r}: reserved for the template cache "
            "(`tryton-ops db templates list` shows it, `db templates prune` removes it)"
        )
    if name in RESERVED or name.startswith(RESERVED_PREFIXES):
        raise DatabaseError(f"bad database name {name!r}: reserved")
    return name
