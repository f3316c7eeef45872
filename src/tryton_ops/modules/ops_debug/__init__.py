"""ops_debug: administrator-only introspection, record explorer, PYSON and code evaluation.

Registered through `tryton.cfg` `[register]` (no `register()`), under the `trytond.modules`
entry point; the work is done by `tryton_ops.debug`, shared with the `tryton-ops` CLI.
"""
