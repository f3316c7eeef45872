"""A small sales workload for the scenario tests: `python seed.py DATABASE` (TRYTOND_CONFIG set).

Company with chart and fiscal year, customers, products with stock, a confirmed sale and a
draft invoice: what the recorded scenarios read and act on. `tryton-ops demo load` (the
capacity workload) builds the same kind of data at scale.
"""

from __future__ import annotations

import sys
from decimal import Decimal

CUSTOMERS = 6
PRODUCTS = 4


def seed(database: str) -> None:
    from proteus import Model
    from proteus import config as pconfig
    from trytond.modules.account.tests.tools import create_chart, create_fiscalyear, get_accounts
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term,
        set_fiscalyear_invoice_sequences,
    )
    from trytond.modules.company.tests.tools import create_company

    pconfig.set_trytond(database)
    # the clients open the module configuration wizard until its items are done
    Item = Model.get("ir.module.config_wizard.item")
    for item in Item.find([("state", "!=", "done")]):
        item.state = "done"
        item.save()
    create_company()
    create_chart()
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear())
    fiscalyear.click("create_period")
    accounts = get_accounts()
    term = create_payment_term()
    term.save()

    Party = Model.get("party.party")
    customers = []
    for i in range(CUSTOMERS):
        party = Party(name=f"Customer {i:03d}", customer_payment_term=term)
        party.addresses[0].city = "Liège"
        party.save()
        customers.append(party)

    Category = Model.get("product.category")
    category = Category(name="Goods", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.account_expense = accounts["expense"]
    category.save()
    (unit,) = Model.get("product.uom").find([("name", "=", "Unit")])
    Template = Model.get("product.template")
    products = []
    for i in range(PRODUCTS):
        template = Template(name=f"Product {i:03d}", default_uom=unit, type="goods")
        template.salable = template.purchasable = True
        template.list_price = Decimal(10 + i)
        template.account_category = category
        template.save()
        products.append(template.products[0])

    (storage,) = Model.get("stock.location").find([("code", "=", "STO")])
    inventory = Model.get("stock.inventory")(location=storage)
    for product in products:
        inventory.lines.new(product=product, quantity=1000.0)
    inventory.click("confirm")

    Sale = Model.get("sale.sale")
    for i, customer in enumerate(customers):
        sale = Sale(party=customer, invoice_method="order")
        line = sale.lines.new(product=products[i % PRODUCTS])
        line.quantity = 2.0
        sale.save()
        sale.click("quote")
        sale.click("confirm")
        # confirming processes the sale once the queue runs; without a worker, process now
        sale.click("process")


if __name__ == "__main__":
    seed(sys.argv[1])
