"""`sqliteops://` on trytond 8.0: the SQLite backend with SQL timing.

The stock `_make_uri` turns the scheme into `file:` with `replace('sqlite', 'file', 1)`, which
leaves `fileops:` for our scheme: the scheme is fixed after it.
"""

import re

from trytond.backend import sqlite as _stock

from tryton_ops.perf.backend import export_stock
from tryton_ops.perf.sqlhook import PerfDatabaseMixin

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


class Database(PerfDatabaseMixin, _stock.Database):
    def _make_uri(self):
        return _SCHEME.sub("file:", super()._make_uri(), count=1)


__all__ = export_stock(_stock, globals(), "sqlite", "sqliteops")
