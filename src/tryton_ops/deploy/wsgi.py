"""The WSGI entry point of the app workers: trytond's application, checked before serving.

`trytond.application` loads the pools of `TRYTOND_DATABASE_NAMES` in threads and only prints
their exceptions, so a worker whose database failed to load would serve errors for its whole
life (every login fails). Here such a worker refuses to boot instead: gunicorn stops, the
supervisor reports it and `tryton-ops up` shows the reason. Finished requests leave `status`
at once (`deploy.inflight`). A database in maintenance gets 503 (`deploy.maintenance`).
"""

from __future__ import annotations

import csv
import os
import threading
from io import StringIO

_load_errors: list[str] = []
_default_hook = threading.excepthook


def _record(args: threading.ExceptHookArgs) -> None:
    _load_errors.append(f"{args.exc_type.__name__}: {args.exc_value}")
    _default_hook(args)


threading.excepthook = _record  # the pool loader threads of trytond.application
try:
    from trytond.application import app
finally:
    threading.excepthook = _default_hook

from trytond.pool import Pool  # noqa: E402

from tryton_ops.deploy import maintenance  # noqa: E402
from tryton_ops.deploy.inflight import install  # noqa: E402


class DatabaseNotLoaded(RuntimeError):
    """A database named in TRYTOND_DATABASE_NAMES has no usable pool."""


def check_pools() -> None:
    names = os.environ.get("TRYTOND_DATABASE_NAMES")
    if not names:
        return
    for name in next(csv.reader(StringIO(names))):
        try:
            Pool(name).get("res.user")
        except KeyError:
            cause = "; ".join(_load_errors) or "see the log above"
            raise DatabaseNotLoaded(
                f"database {name!r} could not be loaded ({cause}); this worker will not serve it"
            ) from None


check_pools()
install(app)
maintenance.install(app)

__all__ = ["app"]
