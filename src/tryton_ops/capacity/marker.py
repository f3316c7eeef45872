"""What makes a database a demo one: the row of the `ops_demo_workload` table.

The loader creates the table (one row: the largest scale fully loaded, 0 while the first load
runs) in the same transaction as the demo company, so the mark is there exactly when demo data
is, and survives backups, restores and copies with the rest of the database. A database
without it is loaded only when it holds none of the records the workload makes: `demo load`
never mixes its records with someone's data.
"""

from __future__ import annotations

from tryton_ops.admin.sql import Session
from tryton_ops.errors import OpsError

MARK_TABLE = "ops_demo_workload"
# tables whose rows mean "someone's data": the demo would mix with it
DATA_TABLES = {
    "company_company": "companies",
    "party_party": "parties",
    "product_template": "products",
    "sale_sale": "sales",
    "purchase_purchase": "purchases",
    "account_invoice": "invoices",
    "account_move": "account moves",
    "stock_move": "stock moves",
}


class NotDemoDatabase(OpsError):
    """The database holds records demo load did not make."""


def loaded_scale(session: Session) -> int | None:
    """The scale the database was fully loaded at (0: a load started), None: not a demo one."""
    if not session.table_exists(MARK_TABLE):
        return None
    return int(session.scalar(f"SELECT MAX(scale) FROM {MARK_TABLE}") or 0)


def foreign_records(session: Session) -> dict[str, int]:
    """Non-empty data tables of a database without the mark, by kind."""
    found = {}
    for table, kind in DATA_TABLES.items():
        if session.table_exists(table):
            count = int(session.scalar(f"SELECT COUNT(*) FROM {table}"))
            if count:
                found[kind] = count
    return found


def check_demo(session: Session, name: str) -> int | None:
    """The loaded scale, or NotDemoDatabase when `name` holds data that is not the demo's."""
    scale = loaded_scale(session)
    if scale is not None:
        return scale
    found = foreign_records(session)
    if found:
        held = ", ".join(f"{count} {kind}" for kind, count in found.items())
        raise NotDemoDatabase(
            f"database {name!r} is not a demo database: it holds {held} that `demo load` did "
            "not create; load the demo into a new database instead (`tryton-ops demo load "
            "-d NEW_NAME`)"
        )
    return None
