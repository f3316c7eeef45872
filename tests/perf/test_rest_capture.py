"""Full capture of REST calls: switched on when trytond has verified the application key."""

from __future__ import annotations

import base64
import json
import time

import httpx

from tryton_ops.client import Connection
from tryton_ops.perf import activation
from tryton_ops.perf.options import PerfOptions

from .helpers import run_cli, wait_records
from .test_ops_perf import check_speedscope
from .test_stack import create_alice

PERF = {"enabled": True, "flush_interval_ms": 100, "profile": True}


def rest_key(admin: Connection, uid: int) -> str:
    """A validated key of application 'rest' for user `uid`, made over JSON-RPC by admin."""
    [app] = admin.call(
        "model.res.user.application.create", [{"user": uid, "application": "rest"}], {}
    )
    [row] = admin.call("model.res.user.application.read", [app], ["key"], {})
    return row["key"]


def rest_records(records: list[dict], since: float = 0) -> list[dict]:
    return [r for r in records if r["method"].startswith("rest.") and r["ts"] > since]


def until(config, predicate, call, timeout: float = 30) -> list[dict]:
    """The REST records once `predicate` holds for them, making `call()` meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        call()
        records = rest_records(wait_records(config, lambda rs: True))
        if predicate(records) or time.monotonic() > deadline:
            assert predicate(records), records[-5:]
            return records
        time.sleep(0.1)


def test_rest_calls_of_an_enabled_user_full_capture_and_profile(
    make_trytond_db, tryton_stack, tmp_path
):
    database = make_trytond_db("sqlite")
    stack = tryton_stack(database, workers=1, perf=PERF)
    admin = stack.connect()
    alice_id = create_alice(admin)
    alice_key, admin_key = rest_key(admin, alice_id), rest_key(admin, admin.user_id)
    base = f"{stack.url}{database.name}/rest/model/party.party"

    def bearer(key: str, **headers: str) -> dict:
        return {"Authorization": f"Bearer {key}", **headers}

    def alice_search():
        assert httpx.get(base, headers=bearer(alice_key), timeout=30).status_code == 200

    result = run_cli(stack.config, tmp_path, "perf", "enable", "--user", "alice", "--for", "30m")
    assert result.exit_code == 0, result.output
    until(stack.config, lambda rs: any(r["full"] for r in rs), alice_search)  # the worker polled it

    start = time.time()
    created = httpx.post(base, json={"name": "made over REST"}, headers=bearer(alice_key))
    assert created.status_code == 200, created.text
    party = created.json()["id"]
    alice_search()
    missing = httpx.get(f"{base}/999999", headers=bearer(alice_key))
    assert missing.status_code == 404  # aborted after the verification: profiler stopped too
    assert httpx.get(base, headers=bearer(admin_key)).status_code == 200
    # a session cookie claiming alice does not make admin's REST call alice's
    claim = base64.urlsafe_b64encode(f"alice:{alice_id}:forged".encode()).decode()
    headers = bearer(admin_key, Cookie=f"tryton_session={claim}")
    assert httpx.get(f"{base}/{party}", headers=headers).status_code == 200
    assert httpx.get(base, headers=bearer("wrong-key")).status_code == 401

    records = rest_records(
        wait_records(stack.config, lambda rs: len(rest_records(rs, start)) >= 6), start
    )
    by_user: dict = {}
    for record in records:
        by_user.setdefault(record["uid"], []).append(record)

    # alice: every statement after the key check, attributed, with caches and a profile
    calls = {r["method"]: r for r in by_user[alice_id]}
    assert set(calls) == {
        "rest.model.party.party.create",
        "rest.model.party.party.search",
        "rest.model.party.party.read",
    }
    for record in calls.values():
        statements = record["statements"]
        assert record["full"] and statements and record["login"] is None and record["session"]
        before = record["statements_before_key"]
        assert before >= 1 and record["tables"]["res_user_application"] >= 1
        assert before + len(statements) + record["statements_dropped"] == record["sql_count"]
        assert not any("res_user_application" in s["tables"] for s in statements)
        assert record["caches"] and record["cache_hits"] >= sum(
            hits for hits, _ in record["caches"].values()
        )
    assert calls["rest.model.party.party.read"]["status"] == 404
    search = calls["rest.model.party.party.search"]
    assert any(s["tables"] == ["party_party"] for s in search["statements"])
    create = calls["rest.model.party.party.create"]
    assert any(s["shape"].startswith('INSERT INTO "party_party"') for s in create["statements"])
    for record in (search, create):
        check_speedscope(record["profile"])
        frames = record["profile"]["shared"]["frames"]
        files = {f.get("file") or "" for f in frames}
        assert any(f.endswith("trytond/protocols/rest.py") for f in files), files
    shown = run_cli(stack.config, tmp_path, "perf", "show", search["id"])
    assert f"{search['statements_before_key']} before the key check" in shown.output
    # REST records name no login: `report --user alice` finds them by her id in the database
    reported = run_cli(stack.config, tmp_path, "perf", "report", "--user", "alice", "--json")
    methods = {row["method"] for row in json.loads(reported.output)["methods"]}
    assert set(calls) <= methods
    nobody = run_cli(stack.config, tmp_path, "perf", "report", "--user", "nobody", "--json")
    assert json.loads(nobody.output)["calls"] == 0

    # admin (not enabled), with or without a forged claim: the summary only
    admin_calls = by_user[admin.user_id]
    assert sorted(r["method"] for r in admin_calls) == [
        "rest.model.party.party.read",
        "rest.model.party.party.search",
    ]
    for record in admin_calls:
        assert not record["full"] and record["status"] == 200 and record["sql_count"] > 0
        assert not {"statements", "caches", "profile", "statements_before_key"} & set(record)
    # a wrong key: 401, nobody, nothing detailed
    [refused] = by_user[None]
    assert refused["status"] == 401 and not refused["full"] and "statements" not in refused
    assert refused["session"] and refused["sql_count"] >= 1

    # disabled: alice's REST calls are summaries again, within the worker's poll
    assert "stopped" in run_cli(stack.config, tmp_path, "perf", "disable", "--user", "alice").output
    last = time.time()

    def summary_again(rs):
        return any(r["uid"] == alice_id and not r["full"] and r["ts"] > last for r in rs)

    until(stack.config, summary_again, alice_search)
    # a short activation: full, then summaries once it expired
    since = activation.enable(stack.config, "alice", 3)["since"]
    full = until(
        stack.config, lambda rs: any(r["full"] and r["ts"] > since for r in rs), alice_search
    )
    first_full = max(r["ts"] for r in full if r["full"])
    until(
        stack.config,
        lambda rs: any(not r["full"] and r["ts"] > first_full for r in rs),
        alice_search,
    )
    assert not activation.list_active(stack.config)

    # the keys are never stored, only their one-way hash
    store_dir = PerfOptions.from_config(stack.config).path
    files = [p for p in store_dir.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert alice_key.encode() not in data and admin_key.encode() not in data, path
