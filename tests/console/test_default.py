"""The console in the one-process default: one worker, no nginx, trytond's own sessions
(`ir_session`), the analyzer off."""

from __future__ import annotations

import httpx
import pytest

from tryton_ops.client import Connection
from tryton_ops.client.errors import SessionExpired

pytestmark = pytest.mark.one_series


def test_one_process_database_sessions_analyzer_off(make_trytond_db, tryton_stack):
    database = make_trytond_db("sqlite")
    stack = tryton_stack(database, workers=1, front={"enabled": "off"})
    admin = stack.connect()
    admin.call(
        "model.res.user.create", [{"name": "Bob", "login": "bob", "password": "Bob-pw-7781x"}], {}
    )
    bob = Connection(stack.url, database.name)
    bob.login("bob", "Bob-pw-7781x")

    client = httpx.Client(base_url=stack.url, timeout=60)
    # no proxy is trusted here: a forged X-Forwarded-For changes nothing
    forged = {"X-Forwarded-For": "203.0.113.9"}
    login = client.post(
        "/ops/api/login", json={"login": "admin", "password": database.password}, headers=forged
    )
    assert login.status_code == 200, login.text

    off = client.get("/ops/api/traffic")
    assert off.status_code == 409 and "analyzer is off" in off.json()["error"]
    # this deployment was configured without a file: the pages the CLI computes say so
    for page in ("system", "doctor", "queue", "cache"):
        response = client.get(f"/ops/api/{page}")
        assert response.status_code == 409 and "no tryton-ops.toml" in response.json()["error"]

    listed = client.get("/ops/api/sessions").json()
    assert listed["store"] == "database"
    rows = {row["login"]: row for row in listed["users"]}
    assert rows["bob"]["sessions"] == 1 and rows["admin"]["sessions"] >= 2  # RPC + console
    killed = client.post("/ops/api/sessions/kill", json={"login": "bob"}).json()
    assert killed["ended"] == 1
    with pytest.raises(SessionExpired):
        bob.call("model.party.party.search_count", [], {})
    assert "bob" not in {row["login"] for row in client.get("/ops/api/sessions").json()["users"]}
    assert client.get("/ops/api/me").json()["login"] == "admin"
