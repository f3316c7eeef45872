"""Requests in flight as `status` shows them: only running ones, with their true age."""

from __future__ import annotations

import json
import time

import pytest

from tests.lifecycle.helpers import cli
from tests.views.test_status import blocked_search, wait_for_status

pytestmark = pytest.mark.one_series  # our in-flight accounting: the same on every series


def in_flight(config, db) -> list[dict]:
    data = json.loads(cli(config, "status", "--json").output)
    return [r for r in data["requests"] if f"/{db.name}/" in r["request"]]


@pytest.mark.parametrize("app_server", ["gunicorn", "uwsgi"])
def test_a_finished_request_leaves_status_at_once(make_trytond_db, tryton_stack, app_server):
    db = make_trytond_db("postgresql")
    stack = tryton_stack(db, workers=1, front={"enabled": "off"}, server={"app_server": app_server})
    submitted = time.monotonic()
    with blocked_search(stack, db) as pending:
        data = wait_for_status(stack.config, lambda d: bool(d["requests"]))
        (request,) = data["requests"]
        # the age is the request's own: never more than the time since the client sent it
        assert 0 <= request["since_s"] <= round(time.monotonic() - submitted, 1) + 0.1  # rounding
    assert pending.result(timeout=30) >= 0
    # the very next status, without waiting for the worker's next 5-second report
    assert in_flight(stack.config, db) == []
    # short calls made between two reports never show up as running
    conn = stack.connect()
    for _ in range(20):
        conn.call("model.party.party.search_count", [], {})
        assert in_flight(stack.config, db) == []
