"""The console's JSON endpoints and its refusals, on a real stack (nginx, Redis)."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from tryton_ops.client.errors import SessionExpired

pytestmark = pytest.mark.one_series


def admin_client(console) -> httpx.Client:
    client = httpx.Client(base_url=console.url, timeout=60)
    response = client.post(
        "/ops/api/login", json={"login": "admin", "password": console.stack.database.password}
    )
    assert response.status_code == 200, response.text
    assert "HttpOnly" in response.headers["set-cookie"]
    assert "SameSite=Strict" in response.headers["set-cookie"]
    return client


def wait_for(client: httpx.Client, path: str, predicate, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        data = client.get(path).json()
        if predicate(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.3)


def test_nothing_before_login_and_non_admins_refused(console):
    url = console.url
    # before login: the login page, and 401 from every page's JSON and every static file
    page = httpx.get(f"{url}ops/")
    assert page.status_code == 200 and 'id="login-form"' in page.text
    assert "/ops/static/app.js" not in page.text
    for path in ("api/traffic", "api/me", "api/calls/x", "static/app.js", "static/index.html"):
        response = httpx.get(f"{url}ops/{path}")
        assert response.status_code == 401, (path, response.text)
    assert httpx.post(f"{url}ops/api/sessions/kill", json={"login": "admin"}).status_code == 401

    # a wrong password, then a real user who is not an administrator: refused, no cookie
    wrong = httpx.post(f"{url}ops/api/login", json={"login": "admin", "password": "nope"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    alice = httpx.post(
        f"{url}ops/api/login", json={"login": "alice", "password": "Alice-console-Pw-5531"}
    )
    assert alice.status_code == 403 and "administrators" in alice.json()["error"]
    assert "set-cookie" not in alice.headers

    # alice's own trytond session (what a script would send) is refused the same way
    conn = console.alice()
    token = base64.b64encode(f"alice:{console.alice_id}:{conn.session}".encode()).decode()
    response = httpx.get(f"{url}ops/api/traffic", headers={"Authorization": f"Session {token}"})
    assert response.status_code == 403
    # ... and a session claiming to be the admin's id with alice's key is not a session
    forged = base64.b64encode(f"admin:1:{conn.session}".encode()).decode()
    response = httpx.get(f"{url}ops/api/traffic", headers={"Authorization": f"Session {forged}"})
    assert response.status_code == 401

    # a form post (what another site could make a browser send) is refused
    form = httpx.post(f"{url}ops/api/login", data={"login": "admin", "password": "x"})
    assert form.status_code == 415


def test_allowed_networks_apply_in_trytond(console):
    """Straight to a worker (no nginx): the worker trusts one proxy, like trytond, so the
    forwarded address is the client's, and it is not in front.allowed_networks."""
    outside = {"X-Forwarded-For": "203.0.113.9"}
    for path in ("ops/", "ops/api/login"):
        response = httpx.get(f"{console.worker_url}{path}", headers=outside)
        assert response.status_code == 403, response.text
        assert "allowed networks" in response.json()["error"]
    inside = httpx.get(f"{console.worker_url}ops/")
    assert inside.status_code == 200


def test_pages_as_json(console):
    client = admin_client(console)
    me = client.get("/ops/api/me").json()
    assert me["login"] == "admin" and me["perf"] is True

    alice = console.alice()
    started = time.time()  # the other tests of the stack (any order) made calls too
    alice.call("model.party.party.create", [{"name": f"api-{i}"} for i in range(12)], {})
    alice.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})

    calls = wait_for(
        client,
        "/ops/api/calls?method=party.party.create&user=alice",
        lambda data: any(c["ts"] >= started for c in data["calls"]),
    )
    [created] = [c for c in calls["calls"] if c["ts"] >= started]
    assert created["login"] == "alice" and created["sql_count"] > 0
    detail = client.get(f"/ops/api/calls/{created['id']}").json()
    assert detail["tables"]["party_party"] >= 1 and detail["n1"]
    assert client.get("/ops/api/calls/nope").status_code == 404

    traffic = client.get("/ops/api/traffic?since=15m").json()
    assert traffic["calls"] >= 3 and traffic["points"] and traffic["p95_ms"] > 0
    assert sum(p["calls"] for p in traffic["points"]) == traffic["calls"]
    assert client.get("/ops/api/traffic?since=soon").status_code == 400

    methods = {m["method"]: m for m in client.get("/ops/api/methods").json()["methods"]}
    create = methods["model.party.party.create"]
    assert create["count"] >= 1 and create["sql_mean"] > 0 and 0 < create["time_share"] <= 1

    findings = client.get("/ops/api/findings").json()
    assert any(f["method"] == "model.party.party.create" for f in findings["n1"])
    assert findings["slowest"]

    queue = client.get("/ops/api/queue").json()
    assert queue["cron"] and all("next_call" in job for job in queue["cron"])
    cache = client.get("/ops/api/cache").json()
    assert cache["summary"]["source"] == "redis" and cache["shared"]["caches"], cache
    assert cache["redis"][0]["used_memory"] > 0
    system = client.get("/ops/api/system").json()
    assert "error" not in system, system
    assert any(p["role"] == "app" for p in system["processes"]), system
    doctor = client.get("/ops/api/doctor").json()
    assert all({"code", "severity"} <= set(f) for f in doctor["findings"]), doctor
    assert client.get("/ops/api/nothing").status_code == 404


def test_capture_bounds_and_session_kill(console):
    client = admin_client(console)
    too_long = client.post("/ops/api/capture/on", json={"login": "alice", "duration": "30d"})
    assert too_long.status_code == 400 and "max_capture" in too_long.json()["error"]
    refused = client.post("/ops/api/capture/on", json={"login": "nobody", "duration": "5m"})
    assert refused.status_code == 404
    assert client.post("/ops/api/capture/on", json={"duration": "5m"}).status_code == 400
    on = client.post("/ops/api/capture/on", json={"login": "alice", "duration": "5m"}).json()
    assert on["uid"] == console.alice_id
    assert [e["login"] for e in client.get("/ops/api/capture").json()["active"]] == ["alice"]
    client.post("/ops/api/capture/off", json={"login": "alice"})
    assert client.get("/ops/api/capture").json()["active"] == []

    alice = console.alice()
    alice.call("model.party.party.search_count", [], {})
    listed = client.get("/ops/api/sessions").json()
    rows = {r["login"]: r for r in listed["users"]}
    assert listed["store"] == "redis" and rows["alice"]["sessions"] >= 1
    killed = client.post("/ops/api/sessions/kill", json={"login": "alice"}).json()
    assert killed["uid"] == console.alice_id and killed["ended"] >= 1
    with pytest.raises(SessionExpired):
        alice.call("model.party.party.search_count", [], {})
    # the console's own session was not touched
    assert client.get("/ops/api/me").status_code == 200
    client.post("/ops/api/logout", json={})
    assert client.get("/ops/api/me").status_code == 401


def test_a_failing_cli_is_a_clear_error(console):
    """status/doctor come from the CLI: a broken tryton-ops.toml is reported, not a traceback."""
    client = admin_client(console)
    toml = console.stack.config.path
    text = toml.read_text()
    try:
        toml.write_text(text + "\n[nosuchsection]\nx = 1\n")
        response = client.get("/ops/api/doctor")
        assert response.status_code == 502, response.text
        assert "`tryton-ops doctor` failed" in response.json()["error"]
        assert "nosuchsection" in response.json()["error"]
    finally:
        toml.write_text(text)
    assert client.get("/ops/api/doctor").status_code == 200
