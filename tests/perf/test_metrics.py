"""Prometheus metrics: increments from records, totals in both stores, the text format (read
back with prometheus_client's own parser), and who may read them."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tryton_ops.client import ServerError
from tryton_ops.deploy.nginx_conf import ADMIN_PREFIX
from tryton_ops.perf.metrics import MAX_METHODS, PATH, Deltas, access, render
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import FileStore, RedisStore

from .helpers import wait_records


def _record(method="model.party.party.read", ms=30.0, uid=1, **extra):
    return {
        "db": "db1",
        "method": method,
        "uid": uid,
        "duration_ms": ms,
        "sql_count": 4,
        "sql_ms": 2.5,
        "status": 200,
        "error": None,
        **extra,
    }


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams, family, name, **labels):
    found = [
        s.value
        for s in fams[family].samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, fams[family].samples)
    return found[0]


@pytest.mark.parametrize("kind", ["file", "redis"])
def test_increments_add_up_in_the_store_and_render_as_prometheus_text(kind, tmp_path, request):
    if kind == "redis":
        redis_server = request.getfixturevalue("redis_server")
        store = RedisStore(PerfOptions(store="redis", redis_uri=redis_server.uri))
    else:
        store = FileStore(PerfOptions(directory=str(tmp_path)))
    # two workers' writers, each pushing its own increments
    for calls in ((_record(ms=3), _record(ms=700)), (_record(ms=40, error="UserError"),)):
        deltas = Deltas()
        for record in calls:
            deltas.observe(record, {"ir.model.get": [3, 1]})
        store.add_metrics(deltas.take())
        assert deltas.take() == {}
    weird = Deltas()
    weird.observe(_record(method="model.x.read", uid=None, status=401), {})  # unverified: other
    weird.observe(_record(method='a"b\\c\nd'), {})  # escaped in the text, parsed back
    store.add_metrics(weird.take())

    fams = families(render(store.load_metrics()))
    rpc = "tryton_ops_rpc_duration_seconds"
    labels = {"db": "db1", "method": "model.party.party.read"}
    assert sample(fams, rpc, f"{rpc}_count", **labels) == 3
    assert sample(fams, rpc, f"{rpc}_bucket", le="0.005", **labels) == 1
    assert sample(fams, rpc, f"{rpc}_bucket", le="0.05", **labels) == 2
    assert sample(fams, rpc, f"{rpc}_bucket", le="+Inf", **labels) == 3
    assert sample(fams, rpc, f"{rpc}_sum", **labels) == pytest.approx(0.743)
    sql = "tryton_ops_sql_statements"
    assert sample(fams, sql, f"{sql}_total", **labels) == 12
    seconds = "tryton_ops_sql_duration_seconds"
    assert sample(fams, seconds, f"{seconds}_total", **labels) == pytest.approx(0.0075)
    errors = "tryton_ops_rpc_errors"
    assert sample(fams, errors, f"{errors}_total", error="UserError", **labels) == 1
    assert sample(fams, errors, f"{errors}_total", error="HTTP 401", method="other") == 1
    assert sample(fams, rpc, f"{rpc}_count", method='a"b\\c\nd') == 1
    cache = "tryton_ops_cache_lookups"
    assert sample(fams, cache, f"{cache}_total", cache="ir.model.get", result="hit") == 9
    assert sample(fams, cache, f"{cache}_total", cache="ir.model.get", result="miss") == 3
    assert {"tryton_ops_perf_records_dropped", "tryton_ops_perf_analyzer_errors"} <= set(fams)


def test_labels_are_bounded():
    deltas = Deltas()
    for i in range(MAX_METHODS + 50):
        deltas.observe(_record(method=f"model.m{i}.read"), {})
    methods = {key.split('"method":"')[1].split('"')[0] for key in deltas.take()}
    assert len(methods) == MAX_METHODS + 1 and "other" in methods
    # unauthenticated callers choose the URL and the method name: neither becomes a label
    deltas = Deltas()
    deltas.observe(_record(), {})  # db1 seen with a verified user
    deltas.take()
    deltas.observe(_record(method="common.db.login", uid=None, db="made-up-1"), {})
    deltas.observe(_record(method="common.made.up", uid=None, db="db1"), {})
    sums = [key for key in deltas.take() if key.startswith("rpc_duration_seconds_sum ")]
    labels = {key.split(" ", 1)[1] for key in sums}
    assert labels == {
        '{"db":"other","method":"common.db.login"}',
        '{"db":"db1","method":"other"}',
    }


def test_access_token_or_allowed_network():
    # nginx limits tryton-ops' own paths to the allowed networks: the metrics are one of them
    assert PATH.startswith(ADMIN_PREFIX)
    local = {"REMOTE_ADDR": "127.0.0.1"}
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    open_ = PerfOptions(metrics_networks=["127.0.0.0/8", "::1/128"])
    assert access(local, open_)[0] == 200
    assert access({"REMOTE_ADDR": "::1"}, open_)[0] == 200
    assert access(remote, open_) == (403, "client address not in the allowed networks")
    assert access({}, open_)[0] == 403
    token = PerfOptions(metrics_token="s3cret-token")
    assert access(local, token)[0] == 401  # with a token, even localhost must send it
    assert access({**remote, "HTTP_AUTHORIZATION": "Bearer s3cret-token"}, token)[0] == 200
    assert access({**local, "HTTP_AUTHORIZATION": "Bearer wrong"}, token)[0] == 403
    assert access({**local, "HTTP_AUTHORIZATION": "Basic s3cret-token"}, token)[0] == 401


def _count(fams, method: str) -> float:
    rpc = "tryton_ops_rpc_duration_seconds"
    samples = fams[rpc].samples if rpc in fams else ()
    found = [
        s.value for s in samples if s.name == f"{rpc}_count" and s.labels.get("method") == method
    ]
    return found[0] if found else 0


def _has_error(fams, method: str) -> bool:
    """Each worker flushes on its own schedule: wait for the one that served the error."""
    errors = fams["tryton_ops_rpc_errors"].samples if "tryton_ops_rpc_errors" in fams else ()
    return any(s.labels.get("method") == method and s.value > 0 for s in errors)


def scrape_until(url: str, token: str, predicate, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        fams = families(answer.text)
        if predicate(fams):
            return fams
        assert time.monotonic() < deadline, answer.text[-2000:]
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("backend", "store", "cache"),
    [("sqlite", "file", "memory"), ("postgresql", "redis", "redis")],
)
def test_metrics_of_a_stack_survive_worker_recycling_behind_nginx(
    backend, store, cache, make_trytond_db, tryton_stack, request
):
    database = make_trytond_db(backend)
    sections = {}
    if store == "redis":
        sections["redis"] = {"uri": request.getfixturevalue("redis_server").uri}
    token = "metrics-Token-1234"
    stack = tryton_stack(
        database,
        workers=2,
        perf={"enabled": True, "flush_interval_ms": 100, "store": store, "metrics_token": token},
        cache={"backend": cache},
        front={"enabled": "on"},
        **sections,
    )
    admin = stack.connect()
    for _ in range(6):
        admin.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})
    with pytest.raises(ServerError):  # a UserError: HTTP 200, counted as an error
        admin.call("model.res.user.create", [{"name": "x", "login": "admin"}], {})
    # REST calls are summarized too, attributed to the application key's user
    [app] = admin.call(
        "model.res.user.application.create",
        [{"user": admin.user_id, "application": "rest"}],  # validated by default
        {},
    )
    [key] = admin.call("model.res.user.application.read", [app], ["key"], {})
    rest = f"{stack.url}{database.name}/rest/model/party.party"
    found = httpx.get(rest, headers={"Authorization": f"Bearer {key['key']}"})
    assert found.status_code == 200 and isinstance(found.json(), list)
    assert httpx.get(rest, headers={"Authorization": "Bearer wrong-key"}).status_code == 401

    url = f"{stack.url}-/perf/metrics"  # through nginx, as Prometheus would
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and token not in wrong.text
    search = "model.party.party.search_read"
    fams = scrape_until(
        url,
        token,
        lambda f: (
            _count(f, search) == 6
            and _count(f, "rest.model.party.party.search") == 1
            and _has_error(f, "model.res.user.create")
        ),
    )
    labels = {"db": database.name, "method": search}
    assert sample(fams, "tryton_ops_sql_statements", "tryton_ops_sql_statements_total", **labels)
    lookups = fams["tryton_ops_cache_lookups"].samples
    assert sum(s.value for s in lookups if s.labels["result"] == "hit") > 0

    # per call: cache hits and misses in the summary record
    records = wait_records(stack.config, lambda rs: sum(r["method"] == search for r in rs) == 6)
    rest_calls = [r for r in records if r["method"] == "rest.model.party.party.search"]
    assert sorted(r["status"] for r in rest_calls) == [200, 401]
    [ok] = [r for r in rest_calls if r["status"] == 200]
    assert ok["uid"] == admin.user_id and ok["sql_count"] > 0 and ok["db"] == database.name
    assert ok["session"] and all(key["key"] not in str(r) for r in records)
    assert _count(fams, "rest.model.party.party.search") == 1  # the 401 one: method "other"
    reads = [r for r in records if r["method"] == search]
    assert all(r["cache_hits"] + r["cache_misses"] > 0 for r in reads)
    assert sum(r["cache_hits"] for r in reads) > 0

    # a worker dying (recycled, crashed) takes nothing away: the totals live in the store
    os.kill(stack.worker_pids()[0], signal.SIGKILL)
    for _ in range(4):
        admin.call("model.party.party.search_read", [], 0, 10, None, ["name"], {})
    scrape_until(url, token, lambda f: _count(f, search) == 10)
