"""Load tests write (sales, invoices): only a demo database takes them without asking."""

from __future__ import annotations

from tryton_ops.errors import UsageError

DEMO_PREFIX = "demo"


def is_demo_database(name: str) -> bool:
    """A demo database is one named demo* (the default deployment's database is "demo")."""
    return name.lower().startswith(DEMO_PREFIX)


def check_target(database: str, confirmed: bool) -> None:
    if not confirmed and not is_demo_database(database):
        raise UsageError(
            f"database {database!r} is not a demo one and the simulated users create sales, "
            "post invoices and change records in it; add --yes to run anyway"
        )
