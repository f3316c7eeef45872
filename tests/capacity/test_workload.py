"""`tryton-ops demo load` on the standard modules, on SQLite and PostgreSQL.

The module set (sale, purchase, account_invoice and their dependencies) is activated once per
session by the harness; each test loads into a copy of it.
"""

from __future__ import annotations

import json

import pytest

from tests.lifecycle.helpers import cli, table_checksums
from tryton_ops.access.database import connect, database_exists
from tryton_ops.capacity import sizing
from tryton_ops.capacity.marker import MARK_TABLE
from tryton_ops.capacity.modules import MODULES
from tryton_ops.lifecycle.database import _load_demo
from tryton_ops.testing.databases import make_config
from tryton_ops.testing.processes import free_port


def _load(db, *args: str, input: str | None = None):
    return cli(db.config, "demo", "load", "-d", db.name, *args, input=input)


def _created(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def _expected_states(count: int) -> dict[str, int]:
    states = [sizing.final_state(i) for i in range(count)]
    return {state: states.count(state) for state in ("quoted", "confirmed", "processed")}


def _rows(session, query: str) -> dict:
    return dict(session.execute(query))


def _check_database(db, scale: int) -> None:
    """What a database loaded at `scale` holds, read with plain SQL."""
    counts = sizing.counts(scale)
    sales, purchases = _expected_states(counts.sales), _expected_states(counts.purchases)
    with connect(db.config, db.name) as s:
        assert s.scalar(f"SELECT scale FROM {MARK_TABLE}") == scale
        assert s.scalar("SELECT COUNT(*) FROM company_company") == 1
        assert s.scalar("SELECT COUNT(*) FROM account_account") > 10  # the chart
        assert s.scalar("SELECT COUNT(*) FROM account_period") >= 12
        for prefix, expected in (("Customer", counts.customers), ("Supplier", counts.suppliers)):
            like = f"Demo {prefix} %"
            assert s.scalar("SELECT COUNT(*) FROM party_party WHERE name LIKE %s", (like,)) == (
                expected
            )
            assert (
                s.scalar(
                    "SELECT COUNT(*) FROM party_address a JOIN party_party p ON a.party = p.id "
                    "WHERE p.name LIKE %s",
                    (like,),
                )
                == expected
            )
            assert (
                s.scalar(
                    "SELECT COUNT(*) FROM party_contact_mechanism c JOIN party_party p "
                    "ON c.party = p.id WHERE p.name LIKE %s",
                    (like,),
                )
                == 2 * expected
            )
        types = _rows(s, "SELECT type, COUNT(*) FROM product_template GROUP BY type")
        assert types == {"goods": counts.goods, "service": counts.services}
        assert _rows(s, "SELECT state, COUNT(*) FROM sale_sale GROUP BY state") == {
            "quotation": sales["quoted"],
            "confirmed": sales["confirmed"],
            "processing": sales["processed"],
        }
        assert _rows(s, "SELECT state, COUNT(*) FROM purchase_purchase GROUP BY state") == {
            "quotation": purchases["quoted"],
            "confirmed": purchases["confirmed"],
            "processing": purchases["processed"],
        }
        invoices = _rows(
            s, "SELECT type || ':' || state, COUNT(*) FROM account_invoice GROUP BY type, state"
        )
        left_draft = sum(sizing.invoice_left_draft(i) for i in range(counts.sales))
        assert left_draft == 4 * scale  # awaiting posting: what the invoice_post scenario posts
        assert invoices == {
            "out:posted": sales["processed"] - left_draft,
            "out:draft": left_draft,
            "in:posted": purchases["processed"],
        }
        assert s.scalar("SELECT COUNT(*) FROM account_move WHERE state = 'posted'") == (
            invoices["out:posted"] + invoices["in:posted"]
        )
        shipments = _rows(s, "SELECT state, COUNT(*) FROM stock_shipment_out GROUP BY state")
        assert list(shipments) == ["done"] and shipments["done"] > 0
        _check_stock(s, counts.goods)


def _check_stock(session, goods: int) -> None:
    """Every good is in stock, and the shipped ones left the warehouse's storage."""
    (storage,) = session.execute(
        "SELECT storage_location FROM stock_location WHERE type = 'warehouse'"
    )[0]
    rows = session.execute(
        "SELECT product, "
        "SUM(CASE WHEN to_location = %s THEN quantity ELSE 0 END) "
        "- SUM(CASE WHEN from_location = %s THEN quantity ELSE 0 END) "
        "FROM stock_move WHERE state = 'done' GROUP BY product",
        (storage, storage),
    )
    stock = {product: float(quantity) for product, quantity in rows}
    assert len(stock) == goods
    assert all(0 < quantity <= sizing.INITIAL_STOCK for quantity in stock.values())
    assert any(quantity < sizing.INITIAL_STOCK for quantity in stock.values())


@pytest.fixture(
    # each series loads on PostgreSQL; SQLite once (the loader's SQL is the same on every series)
    params=[pytest.param("sqlite", marks=pytest.mark.one_series), "postgresql"]
)
def workload_db(request, make_trytond_db):
    return make_trytond_db(request.param, MODULES)


def test_load_at_scale_one_then_again_adds_nothing(workload_db):
    created = _created(_load(workload_db, "--scale", "1", "--json"))
    counts = sizing.counts(1)
    assert created["previous_scale"] is None
    assert created["totals"] == counts.as_dict()
    for kind in ("customers", "suppliers", "goods", "services", "sales", "purchases"):
        assert created["created"][kind] == getattr(counts, kind)
    _check_database(workload_db, 1)

    before = table_checksums(workload_db.config, workload_db.name)
    again = _created(_load(workload_db, "--scale", "1", "--json"))
    assert again["created"] == {} and again["previous_scale"] == 1
    after = table_checksums(workload_db.config, workload_db.name)
    changed = {t for t in before if before[t] != after[t]}
    assert changed <= {"ir_session", "ir_cache"}  # trytond's own bookkeeping, no records


@pytest.mark.one_series  # growing is our loader's arithmetic; each series loads above
def test_a_larger_scale_adds_the_difference(make_trytond_db):
    db = make_trytond_db("sqlite", MODULES)
    _created(_load(db, "--scale", "1", "--json"))
    grown = _created(_load(db, "--scale", "2", "--json"))
    one, two = sizing.counts(1), sizing.counts(2)
    for kind in ("customers", "suppliers", "goods", "services", "sales", "purchases"):
        assert grown["created"][kind] == getattr(two, kind) - getattr(one, kind)
    _check_database(db, 2)
    smaller = _created(_load(db, "--scale", "1", "--json"))
    assert smaller["created"] == {}
    _check_database(db, 2)


def test_a_database_with_other_data_is_refused_and_left_untouched(make_trytond_db, db_backend):
    db = make_trytond_db(db_backend, MODULES)
    _load_demo(db.config, db.name, 3)  # three parties of somebody else's
    before = table_checksums(db.config, db.name)
    result = _load(db, "--scale", "1")
    assert result.exit_code == 1
    assert f"error: database {db.name!r} is not a demo database: it holds 3 parties" in (
        result.output
    )
    assert "Traceback" not in result.output
    assert table_checksums(db.config, db.name) == before


def test_a_database_without_the_modules_is_refused(make_trytond_db):
    db = make_trytond_db("sqlite", ("party",))
    before = table_checksums(db.config, db.name)
    result = _load(db, "--scale", "1")
    assert result.exit_code == 1
    assert "error: module(s) not activated" in result.output
    assert "sale" in result.output and "tryton-ops db init" in result.output
    assert table_checksums(db.config, db.name) == before


@pytest.mark.parametrize("scale", ["0", "-2"])
def test_bad_scale_is_a_usage_error_and_writes_nothing(make_trytond_db, scale):
    db = make_trytond_db("sqlite", ("party",))
    result = cli(db.config, "demo", "load", "-d", "fresh", "--scale", scale, "--yes")
    assert result.exit_code == 2
    assert f"error: --scale must be a whole number of at least 1, not {scale}" in result.output
    assert not database_exists(db.config, "fresh")


def test_a_missing_database_is_created_only_when_asked(make_trytond_db):
    db = make_trytond_db("sqlite", ("party",))
    declined = cli(db.config, "demo", "load", "-d", "fresh", input="n\n")
    assert declined.exit_code == 1 and "does not exist: create it" in declined.output
    assert not database_exists(db.config, "fresh")


def test_postgresql_down_is_an_error_not_a_traceback(tmp_path):
    config = make_config(
        tmp_path, {"database": {"uri": f"postgresql://tryton@127.0.0.1:{free_port()}/"}}
    )
    result = cli(config, "demo", "load", "-d", "demo", "--scale", "1", "--yes")
    assert result.exit_code == 1
    assert "error: PostgreSQL server unreachable" in result.output
    assert "Traceback" not in result.output
