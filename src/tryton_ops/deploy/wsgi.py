"""The WSGI entry point of the app workers: trytond's application, checked before serving.

`trytond.application` loads the pools of `TRYTOND_DATABASE_NAMES` in threads and only prints
their exceptions, so a worker whose database failed to load would serve errors for its whole
life (every login fails). Here such a worker refuses to boot instead: gunicorn stops, the
supervisor reports it and `tryton-ops up` shows the reason. Finished requests leave `status`
at once (`deploy.inflight`). A database in maintenance gets 503 (`deploy.maintenance`).

On SQLite, trytond reads in `BEGIN IMMEDIATE` transactions, so workers booting together wait
for each other's pool load and give up after SQLite's 5 s busy timeout ("database is locked")
on a loaded machine: such a load is tried again until `LOCKED_RETRY_S` have passed.
"""

from __future__ import annotations

import csv
import os
import threading
import time
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

from trytond import backend  # noqa: E402
from trytond.pool import Pool  # noqa: E402

from tryton_ops.deploy import maintenance  # noqa: E402
from tryton_ops.deploy.inflight import install  # noqa: E402


class DatabaseNotLoaded(RuntimeError):
    """A database named in TRYTOND_DATABASE_NAMES has no usable pool."""


# well inside gunicorn's worker timeout (trytond's request timeout + 30 s)
LOCKED_RETRY_S = 60.0
LOCKED = "database is locked"


def _loaded(name: str) -> bool:
    try:
        Pool(name).get("res.user")
    except KeyError:
        return False
    return True


def _load_again(name: str) -> None:
    """The load `trytond.application` does, in this thread, its error recorded the same way."""
    _load_errors.clear()
    try:
        Pool(name).init()
    except Exception as error:  # reported by check_pools like the first load
        _load_errors.append(f"{type(error).__name__}: {error}")
    finally:
        backend.Database(name).close()


def check_pools() -> None:
    names = os.environ.get("TRYTOND_DATABASE_NAMES")
    if not names:
        return
    deadline = time.monotonic() + LOCKED_RETRY_S
    for name in next(csv.reader(StringIO(names))):
        while not _loaded(name) and any(LOCKED in e for e in _load_errors):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
            _load_again(name)
        if not _loaded(name):
            cause = "; ".join(_load_errors) or "see the log above"
            raise DatabaseNotLoaded(
                f"database {name!r} could not be loaded ({cause}); this worker will not serve it"
            )


check_pools()
install(app)
maintenance.install(app)

__all__ = ["app"]
