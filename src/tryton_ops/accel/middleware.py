"""The `[wsgi middleware]` factory through which trytond applies the enabled accelerators.

trytond builds its middlewares once per process, when `trytond.wsgi` is imported (by
`trytond.application`, by gunicorn workers, by trytond's test harness). Building this one
applies the accelerators enabled in `[ops_accel]`, then hands back trytond's own WSGI
callable untouched: no per-request cost.
"""

from __future__ import annotations

from typing import Any

from tryton_ops.accel.runtime import apply_enabled, enabled_in_trytond_config


def install(wsgi_app: Any) -> Any:
    apply_enabled(enabled_in_trytond_config())
    return wsgi_app
