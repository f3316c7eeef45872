"""Introspection of a database with several standard modules (party, currency, company,
product): override chains across modules, field metadata and file:line checked against the
installed sources. SQLite only: the introspection does not depend on the backend (the party
tests run on both) and the template is built once."""

from __future__ import annotations

from tests.debug.helpers import batch, line_of, ok

MODULES = ("party", "currency", "company", "product")


def _def_line(entry: dict, name: str, cls: str) -> int:
    return line_of(entry["file"], rf"def {name}\(", after=rf"^class {cls}\(")


def test_standard_modules(make_trytond_db):
    database = make_trytond_db("sqlite", MODULES)
    (cron_setup, user, user_company, template, variant_price, located, checks, everything) = batch(
        database,
        ("inspect", {"target": "ir.cron.__setup__"}),
        ("inspect", {"target": "res.user", "views": False}),
        ("inspect", {"target": "res.user.company"}),
        ("inspect", {"target": "product.template", "views": False}),
        ("inspect", {"target": "product.product.list_price_used"}),
        ("locate", {"target": "product.template.default_uom_category"}),
        ("checks", {}),
        ("inspect_all", {"views": False}),
    )

    # ir.cron.__setup__ overridden by several standard modules (8.2: product, company, party,
    # currency; 8.0: product, currency): a module runs before those it depends on, each
    # definition at its real file:line and chaining to ir's through super()
    chain = ok(cron_setup)["overrides"]
    modules = [c["module"] for c in chain if c["module"] is not None]
    rank = {"product": 0, "company": 1, "party": 2, "currency": 2, "ir": 3}
    assert modules[0] == "product" and modules[-1] == "ir" and "currency" in modules
    assert [rank[m] for m in modules] == sorted(rank[m] for m in modules)
    for entry in chain[: len(modules) - 1]:
        assert entry["file"].endswith(f"trytond/modules/{entry['module']}/ir.py")
        assert entry["line"] == _def_line(entry, "__setup__", "Cron")
        assert entry["calls_super"] is True and entry["kind"] == "classmethod"
    assert chain[len(modules) - 1]["file"].endswith("trytond/ir/cron.py")

    # res.user: company's class first in the MRO, then res's
    user = ok(user)
    assert {"company", "res"} <= set(user["modules"])
    first = user["classes"][0]
    assert first["module"] == "company" and first["class"] == "trytond.modules.company.res.User"
    assert first["line"] == line_of(first["file"], r"^class User\(")
    res_classes = [c for c in user["classes"] if c["module"] == "res"]
    assert res_classes[0]["file"].endswith("trytond/res/user.py")
    fields = {f["name"]: f for f in user["fields"]}
    assert fields["login"]["declared"][-1]["module"] == "res"

    # a field company adds to res.user: relation, PYSON domain and states, on_change, file:line
    company = ok(user_company)["field"]
    assert company["type"] == "many2one" and company["relation"] == "company.company"
    assert company["domain"] == "[('id', 'in', Eval('companies', []))]"
    assert company["states"]["invisible"] == "~Eval('companies', [])"
    on_change = company["on_change"]
    assert on_change["method"] == "on_change_company" and on_change["module"] == "company"
    assert {"company", "employee", "employees"} <= set(on_change["depends"])
    assert on_change["line"] == line_of(on_change["file"], r"def on_change_company\(")
    (declared,) = company["declared"]
    assert declared["module"] == "company" and declared["file"].endswith("company/res.py")
    assert declared["line"] == line_of(
        declared["file"], r"^    company = fields\.", r"^class User\("
    )

    # product.template: required relation, domain with If, function field with its searcher
    fields = {f["name"]: f for f in ok(template)["fields"]}
    product_py = fields["name"]["declared"][-1]["file"]
    assert product_py.endswith("trytond/modules/product/product.py")
    assert fields["default_uom"]["required"] is True
    assert fields["default_uom"]["relation"] == "product.uom"
    assert "If(Eval('type') != 'goods'" in fields["consumable"]["domain"]
    assert fields["consumable"]["states"]["invisible"] == "Eval('type', 'goods') != 'goods'"
    category = fields["default_uom_category"]
    assert category["function"] is True
    assert category["getter"]["method"] == "on_change_with_default_uom_category"
    assert category["searcher"]["method"] == "search_default_uom_category"
    assert category["searcher"]["line"] == line_of(product_py, r"def search_default_uom_category\(")
    assert "default_uom" in category["on_change_with"]["depends"]

    # a function field of product.product with its getter's module and file:line
    used = ok(variant_price)["field"]
    assert used["function"] is True and used["type"] == "numeric"
    assert used["getter"]["method"] == "get_list_price_used"
    assert used["getter"]["module"] == "product"
    assert used["getter"]["line"] == line_of(product_py, r"def get_list_price_used\(")

    located = ok(located)  # `edit --print` of a field: where it is declared
    assert located["file"] == product_py
    assert located["line"] == line_of(product_py, r"^    default_uom_category = fields\.")

    findings = ok(checks)["findings"]
    assert {f["check"] for f in findings} <= {"signature", "no-super"}
    everything = ok(everything)
    described = {d["model"] for d in everything["described"]}
    assert {"product.template", "company.company", "currency.currency"} <= described
    assert everything["models"] == len(described) > 140
    print(
        f"\ninspect of every model (party, currency, company, product): {everything['models']} "
        f"models, {everything['fields']} fields in {everything['seconds']:.2f} s"
    )
