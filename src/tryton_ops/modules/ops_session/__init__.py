"""ops_session: `ir.session` kept in Redis when `[ops_session] store = redis` (docs/sessions.md).

Registered through `tryton.cfg` `[register]` under the `trytond.modules` entry point. Without
that option the module changes nothing: trytond's own table-backed sessions are used.
"""
