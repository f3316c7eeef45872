"""`loadtest record` then `loadtest run` on a real stack: JSON and chart with sensible content."""

from __future__ import annotations

import json

import pytest

from tests.capacity.conftest import cli, target_args
from tryton_ops.capacity.error_page import page_text


def test_record_cuts_steps_and_binds_ids(party_scenario):
    _, path = party_scenario
    data = json.loads(path.read_text())
    assert [(s["name"], s["kind"]) for s in data["steps"]] == [
        ("list", "read"),
        ("open", "read"),
        ("create", "save"),
    ]
    listing, opening, creating = (s["calls"] for s in data["steps"])
    assert [c["method"] for c in listing] == ["model.party.party.search_read"]
    assert listing[0]["as"] == "r1"
    assert opening[0]["params"][0] == ["${r1.0.id}"]  # the id the list returned
    assert creating[1]["params"][0] == "${r3}"  # the parties this run created
    assert data["recorded"]["client"] == "tryton-ops client"


def test_short_loadtest_writes_json_and_chart(party_scenario, party_db, tmp_path):
    stack, scenario = party_scenario
    out = tmp_path / "out"
    done = cli(
        "loadtest", "run", *target_args(stack, party_db), "--scenario", str(scenario),
        "--mix", "party_tasks", "--users", "3", "--spawn-rate", "3", "--duration", "6s",
        "--think", "const:0.2", "--yes", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "party_tasks: create" in done.stdout and "per 100 users" in done.stdout
    results = json.loads((out / "results.json").read_text())
    totals = results["totals"]
    assert totals["rpc_calls"] > 0 and totals["rpc_errors"] == 0, results["errors"]
    assert totals["step_errors"] == 0
    assert totals["peak_users"] == 3 and totals["rpc_per_s"] > 0
    steps = {s["name"]: s for s in results["steps"]}
    assert set(steps) == {"party_tasks: list", "party_tasks: open", "party_tasks: create"}
    assert steps["party_tasks: create"]["kind"] == "save"
    for step in steps.values():
        assert step["count"] > 0 and step["p50_ms"] <= step["p95_ms"] <= step["p99_ms"]
    methods = {m["name"] for m in results["methods"]}
    assert "model.party.party.write" in methods and "common.db.login" in methods
    cpu = results["cpu"]
    assert cpu["app"]["processes"] >= 3  # gunicorn master and its two workers
    assert cpu["app"]["mean_pct"] > 0
    assert "mean_pct_per_100_users" in cpu["generator"]
    assert len(results["timeline"]) >= 4
    assert max(p["users"] for p in results["timeline"]) == 3
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the simulated users created their own parties
    conn = stack.connect()
    created = conn.call("model.party.party.search_count", [("name", "=", "Load party 2")], {})
    assert created > 1


def test_a_database_that_is_not_a_demo_one_needs_yes(tmp_path):
    out = tmp_path / "out"
    done = cli(
        "loadtest", "run", "--url", "http://127.0.0.1:9", "--database", "production",
        "--duration", "1s", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 2
    assert "'production' is not a demo one" in done.stderr and "--yes" in done.stderr
    assert not out.exists()


def test_scenarios_of_another_series_are_refused(party_scenario, party_db, tmp_path):
    stack, scenario = party_scenario
    data = json.loads(scenario.read_text())
    data["recorded"]["server"] = "trytond 7.0"
    scenario.write_text(json.dumps(data))
    done = cli(
        "loadtest", "check", *target_args(stack, party_db), "--scenario", str(scenario),
        "--mix", "party_tasks", "--yes",
    )  # fmt: skip
    assert done.returncode == 2
    assert "recorded on another series: party_tasks (trytond 7.0)" in done.stderr


def test_bad_options_are_usage_errors(tmp_path):
    for args, message in (
        (["--think", "gauss:3"], "think time 'gauss:3'"),
        (["--mix", "nope=1"], "unknown scenario(s) nope"),
        (["--mix", "login_menu=x"], "the weight must be a number"),
    ):
        done = cli("loadtest", "run", "--url", "http://127.0.0.1:9", "--yes", *args)
        assert done.returncode == 2, args
        assert message in done.stderr, (args, done.stderr)


def test_a_demo_database_runs_without_yes(party_scenario, party_db, postgres_server, tmp_path):
    """The mark `demo load` leaves (capacity.marker) is what makes a database a demo one."""
    import psycopg

    from tests.perf.helpers import write_toml
    from tryton_ops.capacity.marker import MARK_TABLE

    stack, scenario = party_scenario
    with psycopg.connect(postgres_server.dsn(party_db.name), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {MARK_TABLE} (scale INTEGER)")
        conn.execute(f"INSERT INTO {MARK_TABLE} VALUES (1)")
    config = write_toml(party_db.config, tmp_path / "tryton-ops.toml")
    done = cli(
        "-c", str(config), "loadtest", "check", *target_args(stack, party_db),
        "--scenario", str(scenario), "--mix", "party_tasks",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "party_tasks: ok, 3 steps" in done.stdout


@pytest.mark.one_series
def test_an_error_page_says_whose_error_it_is():
    """A failed call keeps what the page said: trytond's lock error and our fail-closed
    session refusal are both HTTP 503, told apart only by their text."""
    werkzeug = (
        "<!doctype html>\n<html lang=en>\n<title>503 Service Unavailable</title>\n"
        "<h1>Service Unavailable</h1>\n<p>could not obtain lock on row</p>\n"
    )
    assert page_text(werkzeug) == (
        "503 Service Unavailable Service Unavailable could not obtain lock on row"
    )
    assert page_text("") == page_text(None) == "(empty body)"
    assert len(page_text("x" * 1000)) == 200
