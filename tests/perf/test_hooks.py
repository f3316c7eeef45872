"""The SQL hook in a real trytond process (mixin on 8.2, entry-point backend on 8.0), and the
middleware's promise: whatever goes wrong inside the analyzer, the request is unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.perf import collector as collector_module
from tryton_ops.perf.guard import errors
from tryton_ops.perf.middleware import HEADER, PerfMiddleware
from tryton_ops.perf.options import PerfOptions
from tryton_ops.testing.databases import derive

HOOK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from trytond import backend
    from tryton_ops.perf.collector import Collector, current
    from tryton_ops.perf.guard import errors

    out = {"name": backend.name, "mro": [c.__name__ for c in backend.Database.__mro__][:3]}
    db = backend.Database(sys.argv[1])
    collector = Collector(full=True, stack_ms=0)
    token = current.set(collector)
    conn = db.get_connection()
    cursor = conn.cursor()
    param = db.flavor.param
    cursor.execute('SELECT "login" FROM "res_user" WHERE "id" > ' + param, (0,))
    out["rows"] = len(cursor.fetchall())
    for i in range(3):
        cursor.execute('SELECT COUNT(*) FROM "party_party" WHERE "id" = ' + param, (i,))
        cursor.fetchall()
    out["count"] = collector.sql_count
    out["transactions"] = collector.transactions
    out["stack"] = collector.statements[0][4]

    def broken(*args):
        raise RuntimeError("analyzer bug")

    Collector.on_sql = broken
    cursor.execute("SELECT 1")
    out["after_error"] = cursor.fetchall()[0][0]
    out["errors"] = errors.count
    db.put_connection(conn)
    current.reset(token)
    print(json.dumps(out))
    """
)


def test_sql_hook_times_statements_and_survives_its_own_errors(trytond_db):
    config = derive(trytond_db.config, {"perf": {"enabled": True}})
    env = trytond_env(config)
    result = subprocess.run(
        [sys.executable, "-c", HOOK_SCRIPT, trytond_db.name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # trytond's own `backend.name` checks keep working (8.0 entry point restores it)
    assert out["name"] == trytond_db.backend
    assert "PerfDatabaseMixin" in out["mro"]
    assert out["rows"] >= 1
    assert out["count"] == 4  # the health-check '' of the pool is not counted
    assert out["transactions"] == 1
    assert out["stack"] and not any("tryton_ops/perf" in frame for frame in out["stack"])
    assert out["after_error"] == 1
    assert out["errors"] >= 1


def echo_app(environ, start_response):
    """A plain WSGI app answering with what it received: body, and some environ keys."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body, environ.get("HTTP_AUTHORIZATION", "").encode("latin-1")]


def make_middleware(tmp_path) -> PerfMiddleware:
    return PerfMiddleware(echo_app, PerfOptions(directory=str(tmp_path), flush_interval_ms=50))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.binary(max_size=2048),
    auth=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=80),
    cookie=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
    path=st.sampled_from(["/db/rpc/", "/rpc/", "/", "/db/", "//x", "/db/rest/model/x"]),
    content_type=st.sampled_from(["application/json", "text/xml", "", "application/x"]),
)
def test_malformed_requests_pass_through_untouched(
    tmp_path, body, auth, cookie, path, content_type
):
    client = Client(make_middleware(tmp_path))
    headers = {"Authorization": auth, "Cookie": f"tryton_session={cookie}"}
    response = client.post(path, data=body, headers=headers, content_type=content_type)
    assert response.status_code == 200
    assert response.get_data() == body + auth.encode("latin-1")
    assert HEADER not in response.headers


def test_analyzer_errors_leave_the_request_unchanged(tmp_path, monkeypatch):
    middleware = make_middleware(tmp_path)
    before = errors.count

    def broken(*args, **kwargs):
        raise RuntimeError("analyzer bug")

    # every stage of the analyzer fails: creating the collector, queuing the record
    monkeypatch.setattr(collector_module.Collector, "__init__", broken)
    response = Client(middleware).post("/db/rpc/", data=b'{"method": "x"}')
    assert response.get_data() == b'{"method": "x"}'
    assert errors.count > before
    monkeypatch.undo()
    monkeypatch.setattr(middleware.writer, "submit", broken)
    response = Client(middleware).post("/db/rpc/", data=b"abc")
    assert response.get_data() == b"abc"


def test_error_log_is_rate_limited(caplog):
    caplog.set_level("ERROR", logger="tryton_ops.perf")
    errors._last_log = 0.0
    for _ in range(20):
        try:
            raise ValueError("boom")
        except ValueError:
            errors.record("test")
    assert len([r for r in caplog.records if "perf analyzer error" in r.getMessage()]) == 1
