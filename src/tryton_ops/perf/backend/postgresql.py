"""`postgresqlops://` on trytond 8.0: the PostgreSQL backend with SQL timing.

Names are imported explicitly: `from trytond.backend.postgresql import *` fails because its
`__all__` holds objects. PostgreSQL rewrites the scheme to `postgresql` when connecting.
"""

from trytond.backend.postgresql import (
    MAX_QUERY_PARAMS,
    DatabaseDataError,
    DatabaseIntegrityError,
    DatabaseOperationalError,
    DatabaseTimeoutError,
    TableHandler,
)
from trytond.backend.postgresql import Database as _Database

from tryton_ops.perf.backend import restore_backend_name
from tryton_ops.perf.sqlhook import PerfDatabaseMixin

__all__ = [
    "MAX_QUERY_PARAMS",
    "Database",
    "DatabaseDataError",
    "DatabaseIntegrityError",
    "DatabaseOperationalError",
    "DatabaseTimeoutError",
    "TableHandler",
]


class Database(PerfDatabaseMixin, _Database):
    pass


restore_backend_name("postgresql", "postgresqlops")
