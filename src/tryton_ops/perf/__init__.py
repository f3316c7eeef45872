"""Performance analyzer: every RPC call and its SQL, per-user capture on demand, reports.

Data flows one way: the WSGI middleware (`middleware`) opens a per-request `Collector`, the SQL
hook (`sqlhook`, a database mixin on 8.2 or a `trytond.backend` entry point on 8.0) reports each
statement into it, the finished record goes to a bounded buffer that a background thread writes
to the store (`store`: Redis stream or local files), and `report`/`metrics` read the store.

This package imports nothing from trytond at top level: parts of it are loaded while
`trytond.backend` or `trytond.wsgi` are still being imported.
"""
