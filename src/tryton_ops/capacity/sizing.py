"""How many records `demo load --scale N` makes: one table, proportional to N.

Kept apart from the loader (which runs inside trytond) so that the CLI, the docs and the tests
read the same figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tryton_ops.errors import UsageError

# per unit of scale
CUSTOMERS = 20
SUPPLIERS = 5
GOODS = 20
SERVICES = 5
SALES = 40
PURCHASES = 10
# sale i has 1 + i % SALE_LINES lines, purchase i 1 + i % PURCHASE_LINES
SALE_LINES = 5
PURCHASE_LINES = 4
# the last state of sale/purchase i: quotation when i % 10 == 0, confirmed when i % 10 == 1,
# else processed (invoice posted; the sale's shipment done)
QUOTED_EVERY = 10
# processed sale i keeps its customer invoice in draft when i % 10 == DRAFT_INVOICE_AT (the
# invoices awaiting posting that the `invoice_post` scenario posts); the others are posted
DRAFT_INVOICE_AT = 9
# days of history the sale and purchase dates spread over, ending today
HISTORY_DAYS = 90
# units of each good counted in by the initial inventory
INITIAL_STOCK = 10_000


@dataclass(frozen=True)
class Counts:
    customers: int
    suppliers: int
    goods: int
    services: int
    sales: int
    purchases: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise UsageError(f"--scale must be a whole number of at least 1, not {scale!r}")
    return scale


def counts(scale: int) -> Counts:
    """The records a database loaded at `scale` holds (created once, whatever the runs)."""
    check_scale(scale)
    return Counts(
        customers=CUSTOMERS * scale,
        suppliers=SUPPLIERS * scale,
        goods=GOODS * scale,
        services=SERVICES * scale,
        sales=SALES * scale,
        purchases=PURCHASES * scale,
    )


def final_state(index: int) -> str:
    """quoted, confirmed or processed: the last step sale or purchase `index` is taken to."""
    if index % QUOTED_EVERY == 0:
        return "quoted"
    if index % QUOTED_EVERY == 1:
        return "confirmed"
    return "processed"


def invoice_left_draft(index: int) -> bool:
    """Whether sale `index` keeps its customer invoice in draft (processed, not posted)."""
    return final_state(index) == "processed" and index % QUOTED_EVERY == DRAFT_INVOICE_AT
