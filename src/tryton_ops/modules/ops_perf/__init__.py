"""ops_perf: the performance analyzer's full capture, switched on and off over RPC by an
administrator (`model.ops.perf.enable/disable/list`).

Registered through `tryton.cfg` `[register]`, under the `trytond.modules` entry point; the work
is done by `tryton_ops.perf.activation`, shared with `tryton-ops perf enable/disable/list`.
"""
