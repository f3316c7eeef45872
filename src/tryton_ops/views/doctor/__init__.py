"""`doctor`: known pitfalls of a Tryton deployment, with severity, explanation and fix.

One module per check family; each exposes `check(ctx) -> Iterable[Finding]`. Checks read the
tryton-ops config, the trytond.conf the processes really use (the running stack's, else the one
tryton-ops renders, or one given with --trytond-conf), the running processes and the servers.
"""

from __future__ import annotations

from tryton_ops.views.doctor.context import Context
from tryton_ops.views.doctor.finding import SEVERITIES, Finding

FAMILIES = (
    "database",
    "cache",
    "startup",
    "server",
    "redis",
    "sessions",
    "backups",
    "file_modes",
    "pgbouncer",
    "accel",
    "web",
)


def run(ctx: Context) -> list[Finding]:
    import importlib

    findings: list[Finding] = []
    for family in FAMILIES:
        module = importlib.import_module(f"tryton_ops.views.doctor.{family}")
        findings.extend(module.check(ctx))
    return sorted(findings, key=lambda f: (SEVERITIES.index(f.severity), f.code))


def exit_code(findings: list[Finding]) -> int:
    """1 when any error was found (warnings and infos do not fail)."""
    return 1 if any(f.severity == "error" for f in findings) else 0


__all__ = ["Context", "Finding", "exit_code", "run"]
