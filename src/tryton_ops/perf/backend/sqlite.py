"""`sqliteops://` on trytond 8.0: the SQLite backend with SQL timing.

The stock `_make_uri` turns the scheme into `file:` with `replace('sqlite', 'file', 1)`, which
leaves `fileops:` for our scheme: the scheme is fixed after it.
"""

import re

from trytond.backend.sqlite import (
    MAX_QUERY_PARAMS,
    DatabaseDataError,
    DatabaseIntegrityError,
    DatabaseOperationalError,
    DatabaseTimeoutError,
    TableHandler,
)
from trytond.backend.sqlite import Database as _Database

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

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class Database(PerfDatabaseMixin, _Database):
    def _make_uri(self):
        return _SCHEME.sub("file:", super()._make_uri(), count=1)


restore_backend_name("sqlite", "sqliteops")
