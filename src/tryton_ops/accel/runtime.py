"""Applying accelerators inside a trytond process, once, with one log line per decision."""

from __future__ import annotations

import importlib
import logging
import threading

from tryton_ops.accel.registry import ACCELERATORS, enabled_in
from tryton_ops.config.schema import Accel

logger = logging.getLogger("tryton_ops.accel")

_lock = threading.Lock()
# name -> "on" | "refused" | "failed"; decided once per process.
_decided: dict[str, str] = {}


def enabled_in_trytond_config() -> list[str]:
    """The accelerators switched on in trytond.conf's `[ops_accel]`."""
    return enabled_in(Accel.from_trytond())


def trytond_version() -> str:
    import trytond

    return trytond.__version__


def apply_enabled(names: list[str], version: str | None = None) -> dict[str, str]:
    """Apply each named accelerator unless already decided; return name -> state.

    An accelerator is refused, with one WARNING line, on a trytond series it was not verified
    against, or when its target does not look like stock trytond code. Nothing raises: a
    refused accelerator leaves trytond exactly as it was.
    """
    version = version or trytond_version()
    with _lock:
        for name in names:
            if name in _decided:
                continue
            accel = ACCELERATORS.get(name)
            if accel is None:
                logger.warning("tryton-ops accel: unknown accelerator %r ignored", name)
                _decided[name] = "unknown"
                continue
            if not accel.verifies(version):
                logger.warning(
                    "tryton-ops accel: %s NOT applied: trytond %s is not a verified version "
                    "(verified: %s); trytond runs unchanged",
                    name,
                    version,
                    ", ".join(f"{s}.x" for s in accel.verified),
                )
                _decided[name] = "refused"
                continue
            module, _, func = accel.apply.partition(":")
            try:
                getattr(importlib.import_module(module), func)()
            except Exception as exc:
                logger.warning(
                    "tryton-ops accel: %s NOT applied on trytond %s: %s; trytond runs unchanged",
                    name,
                    version,
                    exc,
                )
                _decided[name] = "refused"
                continue
            logger.info("tryton-ops accel: %s applied (trytond %s)", name, version)
            _decided[name] = "on"
        return {name: _decided[name] for name in names}


def decided() -> dict[str, str]:
    """What this process applied or refused so far."""
    with _lock:
        return dict(_decided)
