"""Each shipped scenario (recorded from sao) replays on a `demo load` database, 0 errors."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from tests.capacity.conftest import cli, target_args
from tests.perf.helpers import write_toml
from tryton_ops.capacity.record import convert
from tryton_ops.capacity.scenario import (
    Scope,
    Taken,
    UnboundValue,
    builtin_scenarios,
    parse_scenario,
    scenario_to_json,
)
from tryton_ops.errors import UsageError

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


def _counts(conn) -> dict[str, int]:
    """What the scenarios change: sales made by users (no demo reference), posted invoices."""
    return {
        "user sales": conn.call("model.sale.sale.search_count", [("reference", "=", None)], {}),
        "posted": conn.call("model.account.invoice.search_count", [("state", "=", "posted")], {}),
    }


@pytest.mark.timeout(600)  # the first capacity test of a session builds the template
def test_every_scenario_replays_without_error(request, make_trytond_db, tryton_stack, tmp_path):
    """On a `demo load` database of the series they were recorded on; another series
    refuses them (menu, view and action ids differ), which a plain database shows."""
    if series() != RECORDED_SERIES:
        database = make_trytond_db("postgresql")
        stack = tryton_stack(database, workers=2)
        done = cli("loadtest", "check", *target_args(stack, database), "--yes", "--json")
        assert done.returncode == 2
        assert f"runs trytond {series()}" in done.stderr and "sale_create" in done.stderr
        return
    database = request.getfixturevalue("demo_db")
    stack = tryton_stack(database, workers=2)
    conn = stack.connect()
    before = _counts(conn)
    config = write_toml(database.config, tmp_path / "tryton-ops.toml")  # says where its mark is
    done = cli("-c", str(config), "loadtest", "check", *target_args(stack, database), "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcome = {row["scenario"]: row for row in json.loads(done.stdout)}
    assert set(outcome) == set(builtin_scenarios())
    for name, row in outcome.items():
        assert row["passed"] and row["errors"] == [], (name, row)
        assert len(row["steps"]) == len(builtin_scenarios()[name].steps)
        assert all(step["error"] is None for step in row["steps"])
    after = _counts(conn)
    assert after == {"user sales": before["user sales"] + 1, "posted": before["posted"] + 1}
    # the sale the scenario created: its user's own customer and products, confirmed and
    # processed on confirm, addresses and payment term of that customer
    (sale,) = conn.call(
        "model.sale.sale.search_read", [("reference", "=", None)], 0, 1, [("id", "DESC")],
        ["state", "party", "invoice_address.party", "payment_term", "lines"], {},
    )  # fmt: skip
    assert sale["state"] == "processing"
    assert sale["invoice_address."]["party"] == sale["party"] and sale["payment_term"]
    lines = conn.call("model.sale.line.read", sale["lines"], ["product.name", "quantity"], {})
    assert sorted(line["product."]["name"][:13] for line in lines) == ["Demo Good 000"] * 2
    assert len({line["product."]["id"] for line in lines}) == 2  # two products


def test_a_scenario_that_does_not_fit_fails_on_its_step(make_trytond_db, tryton_stack, tmp_path):
    """A model the database does not have: the check names the scenario and fails."""
    scenario = {
        "name": "missing_sale",
        "recorded": {"client": "hand-written", "date": "2026-12-02", "server": ""},
        "steps": [
            {
                "name": "read a sale that is not there",
                "calls": [{"method": "model.sale.sale.read", "params": [[999999], ["number"], {}]}],
            }
        ],
    }
    database = make_trytond_db("postgresql")
    stack = tryton_stack(database, workers=2)
    scenario["recorded"]["server"] = f"trytond {series()}"
    path = tmp_path / "missing.json"
    path.write_text(json.dumps(scenario))
    args = ["--scenario", str(path), "--mix", "missing_sale", "--yes", "--json"]
    done = cli("loadtest", "check", *target_args(stack, database), *args)
    assert done.returncode == 1
    (row,) = json.loads(done.stdout)
    assert row["passed"] is False
    assert row["steps"][0]["error"] and "model.sale.sale.read" in row["errors"][0]
    assert "missing_sale" in done.stderr


@pytest.mark.one_series
def test_placeholders_pick_slice_and_dotted_keys():
    """What the re-bound scenarios use: the user's own row, the first rows, "party." keys."""
    rows = [{"id": 10, "party.": {"rec_name": "Demo Customer 00003"}}, {"id": 11}, {"id": 12}]
    scope = Scope(variables={"user.index": 4}, results={"rows": rows, "ids": [5, 6, 7, 8]})
    assert scope.render("${rows.@.id}") == 11  # user 4 of 3 rows: row 1
    assert scope.render("${ids.:2}") == [5, 6] and scope.render("${ids.:9}") == [5, 6, 7, 8]
    assert scope.render("%${rows.0.party..rec_name}%") == "%Demo Customer 00003%"
    for name, missing in (("${rows.1.party..rec_name}", "'party.'"), ("${none.@}", "none")):
        with pytest.raises(UnboundValue, match=missing):
            scope.render(name)
    with pytest.raises(UnboundValue, match="'@'"):
        Scope(variables={}, results={"empty": []}).render("${empty.@.id}")


@pytest.mark.one_series
def test_bang_picks_an_element_no_other_user_of_the_run_took():
    """`!`: a list found a few seconds earlier still holds what another user took since."""
    drafts, taken = [31, 32, 33], Taken()
    first = Scope(variables={"user.index": 0}, results={"r": drafts}, taken=taken)
    fourth = Scope(variables={"user.index": 3}, results={"r": drafts}, taken=taken)
    assert first.render("${r.@}") == fourth.render("${r.@}") == 31  # `@` alone: both on 31
    assert first.render("${r.!}") == 31
    assert fourth.render("${r.!}") == 32  # its own (31) was taken: the next one
    assert first.render(["${r.!}"]) == [31] and fourth.render("${r.!}") == 32  # kept per run
    again = Scope(variables={"user.index": 0}, results={"r": drafts}, taken=taken)  # next run
    assert again.render("${r.!}") == 33
    late = Scope(variables={"user.index": 1}, results={"r": drafts}, taken=taken)
    with pytest.raises(UnboundValue, match="each of the 3 found was taken by another"):
        late.render("${r.!}")
    with pytest.raises(UnboundValue, match="'!'"):
        Scope(variables={}, results={"empty": []}, taken=taken).render("${empty.!}")
    alone = Scope(variables={"user.index": 4}, results={"r": drafts})  # no run: like `@`
    assert alone.render("${r.!}") == alone.render("${r.@}") == 32


@pytest.mark.one_series
def test_simulated_users_never_change_the_same_record_with_bang(party_db, tryton_stack, tmp_path):
    """Three users renaming parties for seconds, each run searching a list that still holds
    the renamed ones (as a list found seconds before holds what others have just posted):
    with `!` every rename hits a party of its own; with `@` they hit the same ones again."""
    stack = tryton_stack(party_db, workers=2)
    conn = stack.connect()
    conn.call("model.party.party.create", [{"name": f"Free {i:03d}"} for i in range(300)], {})
    context: dict = {}
    scenario = {
        "name": "rename",
        "recorded": {"client": "by hand", "date": "2026-12-03", "server": f"trytond {series()}"},
        "steps": [
            {
                "name": "find",
                "calls": [{
                    "method": "model.party.party.search",
                    "params": [[["name", "like", "Free %"]], 0, 1000, [["id", "ASC"]], context],
                    "as": "r1",
                }],
            },
            {
                "name": "rename",
                "kind": "save",
                "calls": [{
                    "method": "model.party.party.write",
                    "params": [["${r1.!}"], {"name": "Free renamed ${uniq}"}, context],
                }],
            },
        ],
    }  # fmt: skip
    path = tmp_path / "rename.json"
    path.write_text(json.dumps(scenario))
    out = tmp_path / "out"
    done = cli(
        "loadtest", "run", *target_args(stack, party_db), "--scenario", str(path),
        "--mix", "rename", "--users", "3", "--spawn-rate", "3", "--duration", "6s",
        "--think", "const:0.1", "--yes", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["totals"]["step_errors"] == 0, results["errors"]
    (renames,) = [s["count"] for s in results["steps"] if s["name"] == "rename: rename"]
    renamed = conn.call("model.party.party.search_count", [("name", "like", "Free ren%")], {})
    # each counted rename on a party nobody else renamed; a user's write in flight when the
    # run stopped is applied by the server but not counted (CI saw 71 parties for 70 renames)
    assert renames > 3 and renames <= renamed <= renames + 3


def test_a_failing_background_call_fails_its_step(make_trytond_db, tryton_stack, tmp_path):
    """Background calls are sent (alongside the next ones) and awaited before the step ends."""
    count = {"method": "model.party.party.search_count", "params": [[], 0, 1000, {}]}
    scenario = {
        "name": "counters",
        "recorded": {"client": "hand-written", "date": "2026-12-02", "server": ""},
        "steps": [
            {"name": "list", "calls": [{**count, "background": True}, count]},
            {
                "name": "broken counter",
                "calls": [
                    {"method": "model.party.nothing.search_count", "params": [[], 0, 100, {}],
                     "background": True},
                    count,
                ],
            },
        ],
    }  # fmt: skip
    database = make_trytond_db("postgresql")
    stack = tryton_stack(database, workers=2)
    scenario["recorded"]["server"] = f"trytond {series()}"
    path = tmp_path / "counters.json"
    path.write_text(json.dumps(scenario))
    args = ["--scenario", str(path), "--mix", "counters", "--yes", "--json"]
    done = cli("loadtest", "check", *target_args(stack, database), *args)
    assert done.returncode == 1
    (row,) = json.loads(done.stdout)
    listing, broken = row["steps"]
    assert listing["error"] is None
    assert "model.party.nothing.search_count" in broken["error"]
    assert len(row["errors"]) == 1 and "model.party.nothing.search_count" in row["errors"][0]


@pytest.mark.one_series
def test_background_calls_are_read_checked_and_written_back():
    def scenario(call: dict) -> dict:
        return {"name": "s", "steps": [{"name": "a", "calls": [call]}]}

    call = {"method": "model.sale.sale.search_count", "params": [[], 0, 1000, {}]}
    parsed = parse_scenario(scenario({**call, "background": True}), "s.json")
    assert parsed.steps[0].calls[0].background
    assert scenario_to_json(parsed)["steps"][0]["calls"][0]["background"] is True
    assert (
        "background"
        not in scenario_to_json(parse_scenario(scenario(call), "s.json"))["steps"][0]["calls"][0]
    )
    for bad, message in (
        ({**call, "background": "yes"}, "true or false"),
        ({**call, "background": True, "as": "r1"}, "cannot be saved"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_scenario(scenario(bad), "s.json")


@pytest.mark.one_series
def test_sao_counters_are_recorded_as_background_calls():
    """sao 8 sends tab counters (limit 1000) and link counters (limit 100) without waiting;
    its list's page count (limit 100 x page size) and everything else it waits for."""
    records = [
        {"method": "model.sale.sale.search", "params": [[], 0, 1000, None, {}], "ts": 1.0,
         "status": 200, "result": [7, 8]},
        {"method": "model.sale.sale.search_count", "params": [[], 0, 1000, {}], "ts": 1.1,
         "status": 200, "result": 7},
        {"method": "model.sale.line.search_count", "params": [[], 0, 100, {}], "ts": 1.2,
         "status": 200, "result": 8},
        {"method": "model.sale.sale.search_count", "params": [[], 0, 100000, {}], "ts": 1.3,
         "status": 200, "result": 2},
        {"method": "model.sale.sale.read", "params": [[7], ["number"], {}], "ts": 1.4,
         "status": 200, "result": [{"id": 7}]},
    ]  # fmt: skip
    calls = convert(records, "s", "sao 8.0.11").steps[0].calls
    assert [c.background for c in calls] == [False, True, True, False, False]
    assert calls[4].params[0] == ["${r1.0}"]  # bound to the search, not to a count of 7
    desktop = convert(records, "s", "tryton 8.0.5").steps[0].calls
    assert not any(c.background for c in desktop)
