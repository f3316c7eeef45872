"""The ops console at `/ops/` (docs/ops-console.md): what the analyzer, the cache, the sessions,
the workers and the doctor know, in a browser and as JSON, for Tryton administrators.

It runs inside trytond as a WSGI middleware (`console.middleware`), so it is served by the
one-process default and by every worker behind nginx alike. It reads the parts through their own
readers; what only the operator views know (status, doctor) it asks the CLI for, in a
subprocess, since code running inside trytond never imports the views.
"""
