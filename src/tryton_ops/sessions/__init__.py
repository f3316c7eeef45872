"""Sessions in Redis: trytond's `ir.session` semantics without a database round trip per call.

`options` reads `[ops_session]` of trytond.conf, `store` holds the Redis keys (hashed tokens,
per-user sets, daily audit counters), `service` reproduces trytond's session checks on top of
it, `admin` serves `tryton-ops sessions`, `trytond_conf` renders the section. The trytond
module `ops_session` plugs the service into `ir.session` (docs/sessions.md).
"""
