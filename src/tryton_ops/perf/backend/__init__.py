"""trytond backends for 8.0 (`trytond.backend` entry points `postgresqlops`, `sqliteops`).

8.0 has no `[database] database_mixins`, so the only supported way to time SQL is a backend of
our own: the stock one subclassed with `PerfDatabaseMixin`. Loading it makes
`trytond.backend.name` our scheme, which would switch off trytond's `== 'sqlite'` and
`== 'postgresql'` branches (numeric and date conversion on SQLite, DISTINCT ON on PostgreSQL):
`restore_backend_name` sets it back while `trytond.backend` is still being imported (the
attribute is assigned before the entry point is loaded and never again).
"""

from __future__ import annotations

import sys
import urllib.parse

# what trytond takes from a backend module besides `Database` (8.0: backend/__init__.py)
EXPORTED = (
    "MAX_QUERY_PARAMS",
    "DatabaseDataError",
    "DatabaseIntegrityError",
    "DatabaseOperationalError",
    "DatabaseTimeoutError",
    "TableHandler",
)


def export_stock(stock, namespace: dict, name: str, scheme: str) -> list[str]:
    """Give our backend module the stock backend's names (picked one by one: `import *` fails,
    the stock `__all__` holds objects), restore trytond's backend name; return `__all__`."""
    for exported in EXPORTED:
        namespace[exported] = getattr(stock, exported)
    restore_backend_name(name, scheme)
    return ["Database", *EXPORTED]


def restore_backend_name(stock: str, scheme: str) -> None:
    if scheme not in urllib.parse.uses_netloc:
        urllib.parse.uses_netloc.append(scheme)
    module = sys.modules.get("trytond.backend")
    if module is not None and getattr(module, "name", None) == scheme:
        module.name = stock
