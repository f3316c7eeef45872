"""Driver of trytond's test modules with the accelerators on (run in a subprocess).

Importing trytond's test harness imports `trytond.wsgi`, which builds the `[wsgi middleware]`
chain of the TRYTOND_CONFIG file and so applies the accelerators; this driver checks that they
really are applied before it hands the command line to unittest.
"""

import sys
import unittest

import trytond.tests.test_tryton  # noqa: F401 - builds the middlewares: applies accelerators

from tryton_ops.accel import ACCELERATORS, json_response, runtime, view_cache

decided = runtime.decided()
if decided != dict.fromkeys(ACCELERATORS, "on") or not (
    json_response.is_applied() and view_cache.is_applied()
):
    sys.exit(f"accelerators not applied: {decided}")
print("tryton-ops accel: suites run with", decided, file=sys.stderr)
unittest.main(module=None, argv=["unittest", *sys.argv[1:]])
