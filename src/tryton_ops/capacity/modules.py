"""The standard Tryton modules the workload runs on, and how to get them.

Activating `sale` and `purchase` with their dependencies brings in every other one; they are
listed all the same so that the install hint and the docs name the whole set.
"""

from __future__ import annotations

from tryton_ops.lifecycle.modules import missing_modules

MODULES: tuple[str, ...] = (
    "party",
    "company",
    "currency",
    "country",
    "product",
    "stock",
    "account",
    "account_product",
    "account_invoice",
    "account_invoice_stock",
    "sale",
    "purchase",
)


def missing() -> list[str]:
    """The workload's modules not installed in this Python environment."""
    return missing_modules(list(MODULES))


def pip_requirements(series: str) -> list[str]:
    """The pip requirements of the modules for a trytond series ("8.0", "8.2")."""
    return [f"trytond_{name}~={series}.0" for name in MODULES]
