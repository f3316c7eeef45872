"""Each shipped scenario (recorded from sao) replays against a real two-worker stack, 0 errors."""

from __future__ import annotations

import json
from importlib.metadata import version

from tests.capacity.conftest import cli, target_args
from tryton_ops.capacity.scenario import builtin_scenarios

RECORDED_SERIES = "8.0"  # sao 8.0 refuses a trytond 8.2 server: no sao to record 8.2 with


def series() -> str:
    return ".".join(version("trytond").split(".")[:2])


def test_shipped_scenarios_say_where_they_come_from():
    scenarios = builtin_scenarios()
    assert {"login_menu", "sales_browse", "sale_create", "party_lookup"} <= set(scenarios)
    assert {"product_stock", "invoice_post"} <= set(scenarios)
    for scenario in scenarios.values():
        assert scenario.recorded["client"].startswith("sao ")
        assert scenario.recorded["date"]
        assert scenario.recorded["server"] == f"trytond {RECORDED_SERIES}"
        assert all(step.calls for step in scenario.steps)
    saving = {s.name for s in scenarios.values() if any(st.kind == "save" for st in s.steps)}
    assert saving == {"sale_create", "invoice_post"}


def test_every_scenario_replays_without_error(sales_db, tryton_stack):
    """On the series they were recorded on; another series refuses them (ids differ)."""
    stack = tryton_stack(sales_db, workers=2)
    done = cli("loadtest", "check", *target_args(stack, sales_db), "--yes", "--json")
    if series() != RECORDED_SERIES:
        assert done.returncode == 2
        assert f"runs trytond {series()}" in done.stderr and "sale_create" in done.stderr
        return
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcome = {row["scenario"]: row for row in json.loads(done.stdout)}
    assert set(outcome) == set(builtin_scenarios())
    for name, row in outcome.items():
        assert row["passed"] and row["errors"] == [], (name, row)
        assert len(row["steps"]) == len(builtin_scenarios()[name].steps)
        assert all(step["error"] is None for step in row["steps"])
    # the sale the scenario created was confirmed, on its own records
    conn = stack.connect()
    states = conn.call("model.sale.sale.search_read", [], 0, None, None, ["state"], {})
    assert len(states) == 7 and all(s["state"] == "processing" for s in states)
    posted = conn.call("model.account.invoice.search_count", [("state", "=", "posted")], {})
    assert posted == 1


def test_a_scenario_that_does_not_fit_fails_on_its_step(sales_db, tryton_stack, tmp_path):
    """A recorded id the database does not have: the check names the scenario and fails."""
    scenario = {
        "name": "missing_sale",
        "recorded": {"client": "hand-written", "date": "2026-12-02"},
        "steps": [
            {
                "name": "read a sale that is not there",
                "calls": [{"method": "model.sale.sale.read", "params": [[999999], ["number"], {}]}],
            }
        ],
    }
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(scenario))
    stack = tryton_stack(sales_db, workers=2)
    scenario["recorded"]["server"] = f"trytond {series()}"
    path.write_text(json.dumps(scenario))
    args = ["--scenario", str(path), "--mix", "missing_sale", "--yes", "--json"]
    done = cli("loadtest", "check", *target_args(stack, sales_db), *args)
    assert done.returncode == 1
    (row,) = json.loads(done.stdout)
    assert row["passed"] is False
    assert row["steps"][0]["error"] and "model.sale.sale.read" in row["errors"][0]
    assert "missing_sale" in done.stderr
