"""The analyzer on a real 2-worker gunicorn stack, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import time

import httpx
import psutil
import psycopg
import pytest

from tryton_ops.client import Connection, ServerError
from tryton_ops.perf.options import PerfOptions

from .helpers import run_cli, wait_records

ALICE_PASSWORD = "Alice-secret-Pw-8472"
PERF = {"enabled": True, "flush_interval_ms": 100}


def create_alice(admin: Connection) -> int:
    [uid] = admin.call(
        "model.res.user.create",
        [{"name": "Alice", "login": "alice", "password": ALICE_PASSWORD}],
        {},
    )
    return uid


def new_parties(conn: Connection, count: int, prefix: str) -> list[int]:
    values = [{"name": f"{prefix}{i}"} for i in range(count)]
    return conn.call("model.party.party.create", values, {})


def test_calls_attributed_full_capture_reports_and_no_secrets(trytond_db, tryton_stack, tmp_path):
    stack = tryton_stack(trytond_db, workers=2, perf=PERF)
    admin = stack.connect()
    alice_id = create_alice(admin)
    alice = Connection(stack.url, trytond_db.name)
    alice.login("alice", ALICE_PASSWORD)

    alice.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})
    new_parties(alice, 12, "n1-")  # party codes come from a sequence, one query per party
    with pytest.raises(ServerError):  # duplicate login: a UserError answered as HTTP 200
        create_alice(admin)

    # the RPC-Method header, for nginx access logs
    token = base64.b64encode(f"alice:{alice_id}:{alice.session}".encode()).decode()
    response = httpx.post(
        f"{stack.url}{trytond_db.name}/rpc/",
        json={"id": 1, "method": "model.party.party.search_count", "params": [[], {}]},
        headers={"Authorization": f"Session {token}"},
    )
    assert response.headers["RPC-Method"] == "model.party.party.search_count"

    records = wait_records(
        stack.config,
        lambda rs: (
            sum(r["method"] == "model.party.party.search_count" for r in rs) == 1
            and any(r.get("error") for r in rs)
        ),
    )
    by_method = {}
    for record in records:
        by_method.setdefault(record["method"], []).append(record)
    [login_alice] = [r for r in by_method["common.db.login"] if r["login"] == "alice"]
    assert login_alice["session"] is None and login_alice["fp"] is None
    [search] = by_method["model.party.party.search_read"]
    assert (search["uid"], search["login"], search["db"]) == (alice_id, "alice", trytond_db.name)
    assert search["session"] and search["session"] != alice.session
    assert search["sql_count"] > 0 and search["transactions"] >= 1
    assert search["tables"]["party_party"] >= 1
    assert search["status"] == 200 and search["error"] is None and search["response_bytes"] > 0
    assert psutil.pid_exists(search["pid"]) and search["pid"] != os.getpid()
    [create] = [r for r in by_method["model.party.party.create"] if r["login"] == "alice"]
    # SQLite: one sequence query per party; PostgreSQL: one UPDATE of its code per party
    n1_tables = {"ir_sequence", "party_party"}
    assert any(n1_tables & set(f["tables"]) and f["count"] >= 12 for f in create["n1"]), create
    failed = [r for r in by_method["model.res.user.create"] if r.get("error")]
    assert failed and failed[0]["uid"] == admin.user_id and failed[0]["error"].endswith("Error")

    # full capture for alice only, seen by both workers without a restart
    result = run_cli(stack.config, tmp_path, "perf", "enable", "--user", "alice", "--for", "30m")
    assert result.exit_code == 0, result.output
    listed = json.loads(run_cli(stack.config, tmp_path, "perf", "list", "--json").output)
    assert [(e["login"], e["uid"]) for e in listed] == [("alice", alice_id)]

    def full_on_every_worker(rs):  # the stack has 2 workers
        return len({r["pid"] for r in rs if r.get("full") and r["login"] == "alice"}) == 2

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alice.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})
        admin.call("model.party.party.search_count", [], {})
        records = wait_records(stack.config, lambda rs: True)
        if full_on_every_worker(records):
            break
        time.sleep(0.1)
    assert full_on_every_worker(records)
    assert not any(r.get("full") for r in records if r["login"] == "admin")
    full = next(r for r in records if r.get("full"))
    statements = full["statements"]
    assert len(statements) == full["sql_count"]
    assert any(s["tables"] == ["party_party"] for s in statements)
    assert all("%s" not in s["shape"] and "?" not in s["shape"][:0] for s in statements)

    shown = run_cli(stack.config, tmp_path, "perf", "show", full["id"])
    assert shown.exit_code == 0 and f"{len(statements)} statements" in shown.output
    report = json.loads(
        run_cli(stack.config, tmp_path, "perf", "report", "--user", "alice", "--json").output
    )
    methods = {m["method"]: m for m in report["methods"]}
    assert methods["model.party.party.search_read"]["count"] >= 3
    assert {"common.db.login", "model.party.party.create"} <= set(methods)
    assert report["n1"] and report["n1"][0]["method"] == "model.party.party.create"
    text = run_cli(stack.config, tmp_path, "perf", "report", "--method", "party.party")
    assert "Top methods by total time" in text.output and "N+1" in text.output

    result = run_cli(stack.config, tmp_path, "perf", "disable", "--user", "alice")
    assert "stopped" in result.output
    assert run_cli(stack.config, tmp_path, "perf", "list").output.strip() == "none"

    def capture_off(rs):
        return any(not r.get("full") and r["login"] == "alice" and r["ts"] > last_full for r in rs)

    last_full = max(r["ts"] for r in records if r.get("full"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alice.call("model.party.party.search_count", [], {})
        if capture_off(wait_records(stack.config, lambda rs: True)):
            break
        time.sleep(0.1)
    assert capture_off(wait_records(stack.config, lambda rs: True))

    # malformed requests get trytond's own answers, and the worker keeps serving
    url = f"{stack.url}{trytond_db.name}/rpc/"
    for body in (b"{", b"\xff\xfe", b'{"method": 5, "params": "x"}', b"[]"):
        answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
    assert alice.call("model.party.party.search_count", [], {}) >= 12

    # no password and no session key anywhere in the store
    secrets = [
        trytond_db.password,
        ALICE_PASSWORD,
        admin.session,
        alice.session,
        token,
    ]
    store_dir = PerfOptions.from_config(stack.config).path
    files = [p for p in store_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue  # a worker's state.json.tmp renamed meanwhile: read as state.json

        for secret in secrets:
            assert secret.encode() not in data, f"secret found in {path}"


def test_slow_sql_with_pg_sleep_is_logged_with_its_stack(make_trytond_db, tryton_stack):
    database = make_trytond_db("postgresql")
    uri = database.config.settings.database.uri
    with psycopg.connect(uri, dbname=database.name, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION slow_party() RETURNS trigger AS $$ "
            "BEGIN PERFORM pg_sleep(0.3); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER slow_party BEFORE UPDATE ON party_party "
            "FOR EACH ROW EXECUTE FUNCTION slow_party()"
        )
    perf = {**PERF, "slow_sql_ms": 250, "slow_rpc_ms": 250}
    stack = tryton_stack(database, workers=2, perf=perf)
    admin = stack.connect()
    [party] = new_parties(admin, 1, "slow")
    admin.call("model.party.party.write", [party], {"name": "renamed"}, {})
    records = wait_records(
        stack.config, lambda rs: any(r["method"] == "model.party.party.write" for r in rs)
    )
    [write] = [r for r in records if r["method"] == "model.party.party.write"]
    [slow] = write["slow_sql"]
    assert slow["shape"].startswith('UPDATE "party_party"')
    assert slow["ms"] >= 250
    assert any("trytond/model/modelsql.py" in frame for frame in slow["stack"])
    assert not any("tryton_ops/perf" in frame for frame in slow["stack"])
    # only the statements firing the trigger are slow (create sets the party code by UPDATE)
    for record in records:
        assert all(s["shape"].startswith('UPDATE "party_party"') for s in record["slow_sql"])
    log = (stack.config.run_dir / "logs" / "server.log").read_text()
    assert "slow SQL" in log and 'UPDATE "party_party"' in log
    assert "slow RPC model.party.party.write by admin" in log


def test_redis_store_activation_expiry_and_outage(make_trytond_db, tryton_stack, redis_server):
    database = make_trytond_db("sqlite")
    stack = tryton_stack(database, workers=2, perf=PERF, redis={"uri": redis_server.uri})
    assert PerfOptions.from_config(stack.config).store == "redis"
    admin = stack.connect()
    admin.call("model.party.party.search_count", [], {})
    wait_records(stack.config, lambda rs: any(r["method"].endswith("search_count") for r in rs))
    assert not (stack.config.run_dir / "perf" / "calls").exists()

    # a short activation: full capture, then summaries again once it expired
    from tryton_ops.perf import activation

    activation.enable(stack.config, "admin", 3)
    seen_full = seen_expired = False
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        admin.call("model.party.party.search_count", [], {})
        records = wait_records(stack.config, lambda rs: True)
        full = [r for r in records if r.get("full")]
        seen_full = seen_full or bool(full)
        if full and any(r["ts"] > max(f["ts"] for f in full) + 1 for r in records):
            seen_expired = not activation.list_active(stack.config)
            break
        time.sleep(0.1)
    assert seen_full and seen_expired

    # Redis stops answering: calls go on, records are dropped, then flow again
    redis_server.pause()
    try:
        for _ in range(5):
            assert admin.call("model.party.party.search_count", [], {}) >= 0
    finally:
        redis_server.resume()
    marker = new_parties(admin, 1, "after-outage")
    assert marker
    wait_records(
        stack.config,
        lambda rs: any(r["method"] == "model.party.party.create" for r in rs),
        timeout=60,
    )
