"""The workload's records, written through trytond's ORM: `python -m tryton_ops.capacity.loader`.

Runs inside trytond (TRYTOND_CONFIG set by the caller, see `workload.py`) with the JSON request
`{"database": NAME, "scale": N}` on stdin, and writes one JSON object per line on stdout:
`{"stage": TEXT, "total": COUNT}`, `{"advance": COUNT}`, and last `{"created": {KIND: COUNT}}`.

Every record has a stable name or reference derived from its index, so a run creates only the
indexes that are missing: a second run at the same scale creates nothing, a larger scale the
difference. Work is committed per batch (and trytond's queued tasks, such as processing a
confirmed sale, run after each commit as trytond's dispatcher runs them), so an interrupted
run is completed by the next one.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tryton_ops.capacity import sizing
from tryton_ops.capacity.marker import MARK_TABLE

BATCH = 25
COMPANY = "Demo Company"
CURRENCY = "EUR"
CHART = ("account", "account_template_root_en")
CUSTOMER = "Demo Customer {:05d}"
SUPPLIER = "Demo Supplier {:05d}"
GOOD = "Demo Good {:05d}"
SERVICE = "Demo Service {:05d}"
SALE_REF = "DEMO-S-{:06d}"
PURCHASE_REF = "DEMO-P-{:06d}"
CITIES = ["Liège", "Namur", "Brussels", "Ghent", "Leuven", "Antwerp", "Mons", "Bruges"]
STREETS = ["Rue Haute", "Main Street", "Station Road", "Market Square", "Church Lane"]


def emit(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Loader:
    """One load: the database, the scale and the records created so far, by kind."""

    def __init__(self, database: str, scale: int):
        from trytond.pool import Pool

        self.database = database
        self.counts = sizing.counts(scale)
        self.scale = scale
        self.pool = Pool(database)
        self.pool.init()
        self.created: dict[str, int] = {}
        self.company_id: int | None = None
        self.today = dt.date.today()

    # -- transactions --------------------------------------------------------------------
    def in_transaction(self, work: Callable[[], Any]) -> Any:
        """`work()` as root in the company, retried as trytond's dispatcher retries (tables
        to lock first); trytond's queued tasks run after the commit, as the dispatcher runs them."""
        from trytond.transaction import Transaction, TransactionError

        context = {"active_test": False}
        if self.company_id is not None:
            context.update(company=self.company_id, companies=[self.company_id])
        extras: dict[str, Any] = {}
        while True:
            self.pending: dict[str, int] = {}
            try:
                with Transaction().start(self.database, 0, context=context, **extras) as txn:
                    result = work()
                    tasks = list(txn.tasks)
                    txn.tasks.clear()
            except TransactionError as exc:
                exc.fix(extras)
                continue
            for kind, count in self.pending.items():
                self.created[kind] = self.created.get(kind, 0) + count
            self.run_tasks(tasks)
            return result

    def count(self, kind: str, n: int = 1) -> None:
        """Count records made in the current transaction: kept only if it commits."""
        self.pending[kind] = self.pending.get(kind, 0) + n

    def run_tasks(self, tasks: list[int]) -> None:
        from trytond.worker import run_task

        for task_id in tasks:
            run_task(self.pool, task_id)

    def batches(
        self,
        kind: str,
        todo: list[int],
        work: Callable[[list[int]], None],
        then: Callable[[], None] | None = None,
    ) -> None:
        """`work` on `todo` indexes, BATCH at a time, each batch in its own transaction;
        `then` in the next one, once the batch's queued tasks ran."""
        if not todo:
            return
        emit(stage=f"{kind} ({len(todo)} to create)", total=len(todo))
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]

            def made(chunk: list[int] = chunk) -> None:
                work(chunk)
                self.count(kind, len(chunk))

            self.in_transaction(made)
            if then is not None:
                self.in_transaction(then)
            emit(advance=len(chunk))

    def once(self, description: str, work: Callable[[], None]) -> None:
        emit(stage=description, total=None)
        self.in_transaction(work)

    def get(self, name: str, type: str = "model") -> Any:
        return self.pool.get(name, type=type)

    # -- the load --------------------------------------------------------------------------
    def run(self) -> dict[str, int]:
        self.once("company, chart of accounts, fiscal years", self.setup)
        self.batches(
            "customers", self.missing_names(CUSTOMER, self.counts.customers), self.customers
        )
        self.batches(
            "suppliers", self.missing_names(SUPPLIER, self.counts.suppliers), self.suppliers
        )
        self.batches(
            "goods", self.missing_names(GOOD, self.counts.goods, "product.template"), self.goods
        )
        self.batches(
            "services",
            self.missing_names(SERVICE, self.counts.services, "product.template"),
            self.services,
        )
        self.batches("initial stock", self.goods_without_stock(), self.initial_stock)
        self.batches(
            "sales",
            self.missing_refs("sale.sale", SALE_REF, self.counts.sales),
            self.sales,
            then=self.finish,
        )
        self.batches(
            "purchases",
            self.missing_refs("purchase.purchase", PURCHASE_REF, self.counts.purchases),
            self.purchases,
            then=self.finish,
        )
        self.once("finishing what an interrupted run left", self.finish)
        self.once("recording the scale", self.mark)
        return self.created

    # -- setup -----------------------------------------------------------------------------
    def setup(self) -> None:
        from trytond.transaction import Transaction

        Company = self.get("company.company")
        companies = Company.search([])
        if companies:
            self.company_id = companies[0].id
        else:
            self.company_id = self.create_company().id
            self.count("companies")
        with Transaction().set_context(company=self.company_id, companies=[self.company_id]):
            company = Company(self.company_id)
            if not self.get("account.account").search([("company", "=", company.id)], limit=1):
                self.create_chart(company)
                self.count("charts of accounts")
            self.ensure_fiscal_years(company)
            self.ensure_payment_term()
            self.ensure_category(company)
        self.write_mark(None)

    def create_company(self) -> Any:
        Currency = self.get("currency.currency")
        Party = self.get("party.party")
        Company = self.get("company.company")
        User = self.get("res.user")
        currency = Currency.search([("code", "=", CURRENCY)], limit=1)
        if not currency:
            currency = Currency.create(
                [
                    {
                        "name": "Euro",
                        "code": CURRENCY,
                        "symbol": "€",
                        "rates": [("create", [{"rate": Decimal(1)}])],
                    }
                ]
            )
        (party,) = Party.create([{"name": COMPANY, "addresses": [("create", [{"city": "Liège"}])]}])
        (company,) = Company.create([{"party": party.id, "currency": currency[0].id}])
        admins = User.search([("login", "=", "admin")])
        User.write(admins, {"companies": [("add", [company.id])], "company": company.id})
        return company

    def create_chart(self, company: Any) -> None:
        """trytond's create_chart wizard on the minimal chart that `account` ships."""
        ModelData = self.get("ir.model.data")
        Template = self.get("account.account.template")
        Account = self.get("account.account")
        CreateChart = self.get("account.create_chart", type="wizard")

        session_id, _, _ = CreateChart.create()
        wizard = CreateChart(session_id)
        wizard.account.account_template = Template(ModelData.get_id(*CHART))
        wizard.account.company = company
        wizard.transition_create_account()
        properties = wizard.properties
        defaults = wizard.states["properties"].get_defaults(
            wizard, "properties", list(properties._fields)
        )
        for name, value in defaults.items():
            if name in properties._fields:
                setattr(properties, name, value)
        for field, kind in (("account_receivable", "receivable"), ("account_payable", "payable")):
            if not getattr(properties, field, None):
                (account,) = Account.search(
                    [
                        (f"type.{kind}", "=", True),
                        ("party_required", "=", True),
                        ("company", "=", company.id),
                    ],
                    limit=1,
                )
                setattr(properties, field, account)
        wizard.transition_create_properties()
        CreateChart.delete(session_id)

    def ensure_fiscal_years(self, company: Any) -> None:
        """A fiscal year (monthly periods, move and invoice sequences) per year of history."""
        FiscalYear = self.get("account.fiscalyear")
        Sequence = self.get("ir.sequence.strict")
        SequenceType = self.get("ir.sequence.type")
        first = self.today - dt.timedelta(days=sizing.HISTORY_DAYS)
        for year in range(first.year, self.today.year + 1):
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
            if FiscalYear.search(
                [("company", "=", company.id), ("start_date", "<=", end), ("end_date", ">=", start)]
            ):
                continue
            (move_type,) = SequenceType.search([("name", "=", "Account Move")], limit=1)
            (invoice_type,) = SequenceType.search([("name", "=", "Invoice")], limit=1)
            move_seq, invoice_seq = Sequence.create(
                [
                    {"name": f"{year}", "sequence_type": move_type.id, "company": company.id},
                    {"name": f"{year}", "sequence_type": invoice_type.id, "company": company.id},
                ]
            )
            (fiscalyear,) = FiscalYear.create(
                [
                    {
                        "name": f"{year}",
                        "company": company.id,
                        "start_date": start,
                        "end_date": end,
                        "move_sequence": move_seq.id,
                        "invoice_sequences": [
                            (
                                "create",
                                [
                                    {
                                        "in_invoice_sequence": invoice_seq.id,
                                        "in_credit_note_sequence": invoice_seq.id,
                                        "out_invoice_sequence": invoice_seq.id,
                                        "out_credit_note_sequence": invoice_seq.id,
                                    }
                                ],
                            )
                        ],
                    }
                ]
            )
            FiscalYear.create_period([fiscalyear])
            self.count("fiscal years")

    def ensure_payment_term(self) -> None:
        PaymentTerm = self.get("account.invoice.payment_term")
        if PaymentTerm.search([("name", "=", "Net 30 days")]):
            return
        PaymentTerm.create(
            [
                {
                    "name": "Net 30 days",
                    "lines": [
                        (
                            "create",
                            [{"type": "remainder", "relativedeltas": [("create", [{"days": 30}])]}],
                        )
                    ],
                }
            ]
        )

    def ensure_category(self, company: Any) -> None:
        """The accounting category of every product: revenue and expense accounts."""
        Category = self.get("product.category")
        Account = self.get("account.account")
        if Category.search([("name", "=", "Demo")]):
            return
        accounts = {}
        for kind in ("revenue", "expense"):
            (accounts[kind],) = Account.search(
                [(f"type.{kind}", "=", True), ("company", "=", company.id), ("closed", "!=", True)],
                limit=1,
            )
        Category.create(
            [
                {
                    "name": "Demo",
                    "accounting": True,
                    "account_revenue": accounts["revenue"].id,
                    "account_expense": accounts["expense"].id,
                }
            ]
        )

    # -- what exists -----------------------------------------------------------------------
    def missing_names(self, pattern: str, count: int, model: str = "party.party") -> list[int]:
        prefix = pattern.split("{")[0]
        names = self.in_transaction(
            lambda: {r.name for r in self.get(model).search([("name", "like", prefix + "%")])}
        )
        return [i for i in range(count) if pattern.format(i) not in names]

    def missing_refs(self, model: str, pattern: str, count: int) -> list[int]:
        prefix = pattern.split("{")[0]
        refs = self.in_transaction(
            lambda: {
                r.reference for r in self.get(model).search([("reference", "like", prefix + "%")])
            }
        )
        return [i for i in range(count) if pattern.format(i) not in refs]

    def goods_without_stock(self) -> list[int]:
        stocked = self.in_transaction(
            lambda: {
                line.product.template.name for line in self.get("stock.inventory.line").search([])
            }
        )
        return [i for i in range(self.counts.goods) if GOOD.format(i) not in stocked]

    # -- parties and products ---------------------------------------------------------------
    def party_values(self, name: str, index: int, email_domain: str) -> dict[str, Any]:
        return {
            "name": name,
            "addresses": [
                (
                    "create",
                    [
                        {
                            "street": f"{index % 200 + 1} {STREETS[index % len(STREETS)]}",
                            "city": CITIES[index % len(CITIES)],
                            "postal_code": f"{1000 + index % 9000}",
                        }
                    ],
                )
            ],
            "contact_mechanisms": [
                (
                    "create",
                    [
                        {"type": "email", "value": f"contact{index:05d}@{email_domain}"},
                        {"type": "phone", "value": f"+32 4 {index % 1000:03d} {index:05d}"},
                    ],
                )
            ],
        }

    def payment_term(self) -> Any:
        (term,) = self.get("account.invoice.payment_term").search(
            [("name", "=", "Net 30 days")], limit=1
        )
        return term

    def customers(self, indexes: list[int]) -> None:
        term = self.payment_term()
        values = []
        for i in indexes:
            party = self.party_values(CUSTOMER.format(i), i, "customer.example.com")
            party["customer_payment_term"] = term.id
            values.append(party)
        self.get("party.party").create(values)

    def suppliers(self, indexes: list[int]) -> None:
        term = self.payment_term()
        values = []
        for i in indexes:
            party = self.party_values(SUPPLIER.format(i), i, "supplier.example.com")
            party["supplier_payment_term"] = term.id
            values.append(party)
        self.get("party.party").create(values)

    def product_values(self, name: str, index: int, goods: bool, category: Any) -> dict[str, Any]:
        unit = self.get("ir.model.data").get_id("product", "uom_unit" if goods else "uom_hour")
        list_price = Decimal(10 + (index * 7) % 190) + Decimal("0.50")
        code = ("G" if goods else "S") + f"{index:05d}"
        return {
            "name": name,
            "type": "goods" if goods else "service",
            "default_uom": unit,
            "sale_uom": unit,
            "purchase_uom": unit,
            "salable": True,
            "purchasable": True,
            "list_price": list_price,
            "account_category": category.id,
            "products": [
                (
                    "create",
                    [
                        {
                            "suffix_code": code,
                            "cost_price": (list_price * 6 / 10).quantize(Decimal("0.0001")),
                        }
                    ],
                )
            ],
        }

    def goods(self, indexes: list[int]) -> None:
        self.create_products(GOOD, indexes, goods=True)

    def services(self, indexes: list[int]) -> None:
        self.create_products(SERVICE, indexes, goods=False)

    def create_products(self, pattern: str, indexes: list[int], goods: bool) -> None:
        (category,) = self.get("product.category").search([("name", "=", "Demo")], limit=1)
        self.get("product.template").create(
            [self.product_values(pattern.format(i), i, goods, category) for i in indexes]
        )

    def initial_stock(self, indexes: list[int]) -> None:
        """One inventory per batch counting INITIAL_STOCK units of each good, confirmed."""
        Inventory = self.get("stock.inventory")
        Location = self.get("stock.location")
        Product = self.get("product.product")
        (warehouse,) = Location.search([("type", "=", "warehouse")], limit=1)
        names = [GOOD.format(i) for i in indexes]
        products = Product.search([("template.name", "in", names)])
        (inventory,) = Inventory.create(
            [
                {
                    "location": warehouse.storage_location.id,
                    "date": self.today - dt.timedelta(days=sizing.HISTORY_DAYS + 1),
                    "lines": [
                        (
                            "create",
                            [{"product": p.id, "quantity": sizing.INITIAL_STOCK} for p in products],
                        )
                    ],
                }
            ]
        )
        Inventory.confirm([inventory])

    # -- history -----------------------------------------------------------------------------
    def history_date(self, index: int, count: int) -> dt.date:
        """Dates rise with the index over the history, so invoices are numbered in date order."""
        return self.today - dt.timedelta(
            days=sizing.HISTORY_DAYS - (index * sizing.HISTORY_DAYS) // count
        )

    def products(self, template_pattern: str, count: int) -> list[Any]:
        Product = self.get("product.product")
        names = [template_pattern.format(i) for i in range(count)]
        return sorted(
            Product.search([("template.name", "in", names)]), key=lambda p: p.template.name
        )

    def parties(self, pattern: str, count: int) -> list[Any]:
        Party = self.get("party.party")
        names = [pattern.format(i) for i in range(count)]
        return sorted(Party.search([("name", "in", names)]), key=lambda p: p.name)

    def lines(
        self, index: int, n_lines: int, products: list[Any], price: Callable[[Any], Decimal]
    ) -> list[dict]:
        lines = []
        for k in range(n_lines):
            product = products[(index * 7 + k * 13) % len(products)]
            lines.append(
                {
                    "type": "line",
                    "product": product.id,
                    "quantity": float(1 + (index + k) % 5),
                    "unit": product.default_uom.id,
                    "unit_price": price(product),
                }
            )
        return lines

    def sales(self, indexes: list[int]) -> None:
        Sale = self.get("sale.sale")
        customers = self.parties(CUSTOMER, self.counts.customers)
        products = self.products(GOOD, self.counts.goods) + self.products(
            SERVICE, self.counts.services
        )
        values = []
        for i in indexes:
            party = customers[(i * 3) % len(customers)]
            address = party.addresses[0]
            values.append(
                {
                    "reference": SALE_REF.format(i),
                    "party": party.id,
                    "invoice_address": address.id,
                    "shipment_address": address.id,
                    "sale_date": self.history_date(i, self.counts.sales),
                    "payment_term": party.customer_payment_term.id,
                    "lines": [
                        (
                            "create",
                            self.lines(
                                i,
                                1 + i % sizing.SALE_LINES,
                                products,
                                lambda p: p.template.list_price,
                            ),
                        )
                    ],
                }
            )
        sales = Sale.create(values)
        self.advance(Sale, sales, indexes)

    def purchases(self, indexes: list[int]) -> None:
        Purchase = self.get("purchase.purchase")
        suppliers = self.parties(SUPPLIER, self.counts.suppliers)
        products = self.products(GOOD, self.counts.goods)
        values = []
        for i in indexes:
            party = suppliers[i % len(suppliers)]
            values.append(
                {
                    "reference": PURCHASE_REF.format(i),
                    "party": party.id,
                    "invoice_address": party.addresses[0].id,
                    "purchase_date": self.history_date(i, self.counts.purchases),
                    "payment_term": party.supplier_payment_term.id,
                    "lines": [
                        (
                            "create",
                            self.lines(
                                i, 1 + i % sizing.PURCHASE_LINES, products, lambda p: p.cost_price
                            ),
                        )
                    ],
                }
            )
        purchases = Purchase.create(values)
        self.advance(Purchase, purchases, indexes)

    def advance(self, Model: Any, records: list[Any], indexes: list[int]) -> None:
        """Quote all, confirm those not left quoted; trytond queues the processing of confirmed
        records, and the queued tasks of those meant to stay confirmed are dropped."""
        from trytond.transaction import Transaction

        Model.quote(records)
        by_state: dict[str, list[Any]] = {}
        for record, index in zip(records, indexes, strict=True):
            by_state.setdefault(sizing.final_state(index), []).append(record)
        tasks = Transaction().tasks
        before = len(tasks)
        Model.confirm(by_state.get("confirmed", []))
        held = tasks[before:]
        del tasks[before:]
        Queue = self.get("ir.queue")
        Queue.delete(Queue.browse(held))
        Model.confirm(by_state.get("processed", []))

    # -- finishing -----------------------------------------------------------------------------
    def finish(self) -> None:
        """Ship the processed sales and post their invoices (but those left for the load test to
        post, see sizing.invoice_left_draft), and the purchases' invoices.

        Only invoices of the demo's own sales and purchases: the drafts that simulated users
        made (the `sale_create` scenario) are theirs to post.
        """
        Shipment = self.get("stock.shipment.out")
        Invoice = self.get("account.invoice")
        waiting = Shipment.search([("state", "=", "waiting")])
        if waiting:
            Shipment.assign_try(waiting)
            Shipment.pick(waiting)
            Shipment.pack(waiting)
            Shipment.do(waiting)
            self.count("shipments done", len(waiting))
        draft = Invoice.search([("state", "=", "draft")], order=[("id", "ASC")])
        self.post_invoices([i for i in draft if self.to_post(i)])

    def to_post(self, invoice: Any) -> bool:
        """A draft invoice of a demo sale or purchase that is not left in draft."""
        for line in invoice.lines:
            origin = line.origin
            record = getattr(origin, "sale", None) or getattr(origin, "purchase", None)
            reference = getattr(record, "reference", None) or ""
            if reference.startswith(SALE_REF.split("{")[0]):
                return not sizing.invoice_left_draft(int(reference.rsplit("-", 1)[1]))
            if reference.startswith(PURCHASE_REF.split("{")[0]):
                return True
        return False

    def post_invoices(self, invoices: list[Any]) -> None:
        """Customer invoices in date order (trytond refuses to number one before a later one)."""
        Invoice = self.get("account.invoice")
        if not invoices:
            return
        floor = Invoice.search(
            [("type", "=", "out"), ("state", "in", ["posted", "paid"])],
            order=[("invoice_date", "DESC")],
            limit=1,
        )
        floor_date = floor[0].invoice_date if floor else dt.date.min
        for invoice in invoices:
            origin_date = self.invoice_origin_date(invoice)
            invoice.invoice_date = (
                max(origin_date, floor_date) if invoice.type == "out" else origin_date
            )
            invoice.accounting_date = None
        Invoice.save(invoices)
        invoices = sorted(invoices, key=lambda inv: (inv.invoice_date, inv.id))
        Invoice.post(invoices)
        self.count("invoices posted", len(invoices))

    def invoice_origin_date(self, invoice: Any) -> dt.date:
        for line in invoice.lines:
            origin = line.origin
            if origin is not None and hasattr(origin, "sale"):
                return origin.sale.sale_date
            if origin is not None and hasattr(origin, "purchase"):
                return origin.purchase.purchase_date
        return self.today

    def write_mark(self, scale: int | None) -> None:
        from trytond.transaction import Transaction

        cursor = Transaction().connection.cursor()
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARK_TABLE} (scale INTEGER NOT NULL)")
        cursor.execute(f"SELECT scale FROM {MARK_TABLE}")
        row = cursor.fetchone()
        if row is None:
            cursor.execute(f"INSERT INTO {MARK_TABLE} (scale) VALUES (0)")
        elif scale is not None and scale > row[0]:
            cursor.execute(f"UPDATE {MARK_TABLE} SET scale = %s" % int(scale))

    def mark(self) -> None:
        self.write_mark(self.scale)


def main() -> None:
    request = json.loads(sys.stdin.read())
    created = Loader(request["database"], int(request["scale"])).run()
    emit(created=created)


if __name__ == "__main__":
    main()
