"""Whose call a record is: only what trytond verified; odd inputs still leave a record."""

from __future__ import annotations

import base64
import json

import httpx

from tryton_ops.client import Connection

from .helpers import run_cli, wait_records
from .test_stack import ALICE_PASSWORD, PERF, create_alice


def _session(login: str, uid: int, key: str) -> dict[str, str]:
    token = base64.b64encode(f"{login}:{uid}:{key}".encode()).decode()
    return {"Authorization": f"Session {token}"}


def _post(stack, database: str, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{stack.url}{database}/rpc/",
        content=body.encode(),
        headers={"Content-Type": "application/json", **headers},
    )


SEARCH_READ = "model.party.party.search_read"


def test_refused_and_forged_calls_are_nobodys(make_trytond_db, tryton_stack, tmp_path):
    database = make_trytond_db("postgresql")
    stack = tryton_stack(database, workers=2, perf=PERF)
    admin = stack.connect()
    alice_id = create_alice(admin)
    alice = Connection(stack.url, database.name)
    alice.login("alice", ALICE_PASSWORD)

    def call(method: str, headers: dict[str, str]) -> httpx.Response:
        body = json.dumps({"id": 1, "method": method, "params": [[], {}]})
        return _post(stack, database.name, body, headers)

    # a made-up key for admin: refused
    forged = call("model.party.party.search_count", _session("admin", admin.user_id, "made-up"))
    assert forged.status_code == 401
    # alice's own valid session, naming itself admin: trytond verifies the id and key only
    claimed = call("model.party.party.search", _session("admin", alice_id, alice.session))
    assert claimed.status_code == 200
    # a wrong password for admin
    wrong = httpx.post(
        f"{stack.url}{database.name}/rpc/",
        json={"id": 1, "method": "common.db.login", "params": ["admin", {"password": "x"}]},
    )
    assert wrong.status_code == 401
    admin.call(SEARCH_READ, [], 0, 1, None, ["name"], {})

    # every call awaited: two workers flush their records each on its own schedule
    records = wait_records(
        stack.config,
        lambda rs: (
            {"model.party.party.search_count", "model.party.party.search", SEARCH_READ}
            <= {r["method"] for r in rs}
            and sum(r["method"] == "common.db.login" for r in rs) >= 3
        ),
    )
    [refused] = [r for r in records if r["method"] == "model.party.party.search_count"]
    assert refused["status"] == 401 and refused["uid"] is None and refused["login"] is None
    [failed_login] = [r for r in records if r["method"] == "common.db.login" and r["status"] == 401]
    assert failed_login["login"] is None and failed_login["uid"] is None
    [by_alice] = [r for r in records if r["method"] == "model.party.party.search"]
    assert by_alice["uid"] == alice_id and by_alice["status"] == 200

    report = run_cli(stack.config, tmp_path, "perf", "report", "--user", "admin", "--json")
    assert report.exit_code == 0, report.output
    methods = {m["method"]: m for m in json.loads(report.output)["methods"]}
    assert SEARCH_READ in methods
    assert "model.party.party.search_count" not in methods  # the forged call
    assert "model.party.party.search" not in methods  # alice's, whatever it claimed
    assert methods["common.db.login"]["count"] == 1  # the successful one only
    report = run_cli(stack.config, tmp_path, "perf", "report", "--user", "alice", "--json")
    methods = {m["method"]: m for m in json.loads(report.output)["methods"]}
    assert methods["model.party.party.search"]["count"] == 1


def test_lone_surrogate_method_is_recorded(make_trytond_db, tryton_stack, tmp_path):
    database = make_trytond_db("sqlite")
    stack = tryton_stack(database, workers=1, perf=PERF)
    admin = stack.connect()
    headers = _session("admin", admin.user_id, admin.session)
    # the JSON escape of a lone surrogate: valid JSON, a str Python cannot encode to UTF-8
    body = '{"id": 1, "method": "model.party.party.\\ud800", "params": [[], {}]}'
    response = _post(stack, database.name, body, headers)
    assert response.status_code < 500

    records = wait_records(
        stack.config, lambda rs: any(r["method"].startswith("model.party.party.") for r in rs)
    )
    [odd] = [r for r in records if r["method"].startswith("model.party.party.")]
    assert odd["method"] == "model.party.party.\\ud800"
    assert odd["uid"] == admin.user_id and odd["fp"]
    report = run_cli(stack.config, tmp_path, "perf", "report")
    assert report.exit_code == 0 and "model.party.party.\\ud800" in report.output
