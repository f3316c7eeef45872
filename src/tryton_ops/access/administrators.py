"""Who is a Tryton administrator, asked inside a trytond transaction.

One answer for every admin-only feature that runs inside trytond (the ops_debug and ops_perf
RPCs, the ops console): 8.2 flags users as administrators, 8.0 has the Administration group.
"""

from __future__ import annotations


def is_administrator() -> bool:
    """True for the current transaction's user; root (user 0) is one."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction, without_check_access

    if Transaction().user == 0:
        return True
    pool = Pool()
    User = pool.get("res.user")
    if hasattr(User, "is_administrator"):
        return bool(User.is_administrator())
    ModelData = pool.get("ir.model.data")
    with without_check_access():
        return ModelData.get_id("res", "group_admin") in User.get_groups()
