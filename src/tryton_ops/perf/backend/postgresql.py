"""`postgresqlops://` on trytond 8.0: the PostgreSQL backend with SQL timing.

PostgreSQL rewrites the scheme to `postgresql` when connecting.
"""

from trytond.backend import postgresql as _stock

from tryton_ops.perf.backend import export_stock
from tryton_ops.perf.sqlhook import PerfDatabaseMixin


class Database(PerfDatabaseMixin, _stock.Database):
    pass


__all__ = export_stock(_stock, globals(), "postgresql", "postgresqlops")
