"""Introspection of a trytond Pool: model composition, overrides, views, records, PYSON, eval.

The library modules here are pure functions over a loaded `trytond.pool.Pool`; they run inside
a trytond process (the `ops_debug` module's RPC methods, or the runner subprocess the CLI starts).
Only `client`, `errors` and `trytond_conf` may be imported by the CLI process: they never import
trytond, whose configuration must be final before its first import.
"""
