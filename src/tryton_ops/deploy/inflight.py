"""A worker reports again as soon as a request it reported as in flight ends.

trytond's status thread (`trytond/status.py`) sends a worker's requests in flight every 5 s. A
request that ended just after a report stayed in that report, so `status` and `top` showed it
as running for up to 5 s more, with an age growing all the while. Here the worker notes when
it last reported; a request that started before that report sends a new one when it ends, so
every request the stack's `stat` listener holds is still running, and its age (`since` plus
the report's age) is the true one. Requests that end between two reports cost nothing.
"""

from __future__ import annotations

import time
from typing import Any

from trytond import status as trytond_status
from trytond.config import config

_stock_dump = trytond_status.dump
_last_report = 0.0  # time.perf_counter() of this process's last report (trytond's clock)


def _dump(path: str) -> bool:
    global _last_report
    _last_report = time.perf_counter()
    return _stock_dump(path)


class ReportFinished:
    """WSGI middleware: after a request that the last report showed, report again."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)  # trytond forgot the request on return
        finally:
            if started <= _last_report:
                trytond_status.dump(config.get("database", "path"))


def install(app: Any) -> None:
    """Wrap trytond's application `app` and note the times of its status reports."""
    trytond_status.dump = _dump  # the status thread looks `dump` up at every report
    app.wsgi_app = ReportFinished(app.wsgi_app)
