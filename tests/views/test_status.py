"""status --json, top and doctor against a real running stack (PostgreSQL, Redis, 2 workers)."""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor

import psycopg

from tests.lifecycle.helpers import cli
from tryton_ops.access.database import connect
from tryton_ops.config.trytond_conf import write_trytond_conf
from tryton_ops.lifecycle.backup import backup
from tryton_ops.testing.databases import derive
from tryton_ops.views.doctor import Context, run


@contextlib.contextmanager
def blocked_search(stack, db):
    """A real slow request: a search on party_party while another session locks the table."""
    conn = stack.connect()
    with psycopg.connect(db.config.settings.database.uri, dbname=db.name) as lock:
        lock.execute("LOCK TABLE party_party IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(1) as pool:
            pending: Future = pool.submit(conn.call, "model.party.party.search_count", [], {})
            try:
                yield pending
            finally:
                lock.rollback()  # releases the lock whatever the test asserted


def wait_for_status(config, condition, timeout: float = 40.0):
    """`status --json` once `condition` holds (workers report every 5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(cli(config, "status", "--json").output)
        if condition(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.5)


def test_status_top_and_doctor_on_a_running_stack(make_trytond_db, redis_server, tryton_stack):
    db = make_trytond_db("postgresql")
    backup(db.config, db.name)
    stack = tryton_stack(db, workers=2, redis={"uri": redis_server.uri}, front={"enabled": "off"})
    conn = stack.connect()
    assert conn.call("model.party.party.search_count", [], {}) >= 0

    result = cli(stack.config, "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["running"] and data["url"] == stack.url
    workers = [p for p in data["processes"] if p["role"] == "app-worker"]
    assert sorted(p["pid"] for p in workers) == stack.worker_pids()
    database = data["database"]
    assert database["name"] == db.name and database["exists"]
    assert database["size_bytes"] > 1_000_000
    assert database["connections"] >= 1  # the workers' pools
    (redis,) = data["redis"]
    assert redis["used_memory"] > 0 and redis["maxmemory_policy"] == "noeviction"
    assert 0 <= data["last_backup"]["age_s"] < 3600
    assert data["jobs"]["tasks"] == [] and data["jobs"]["cron"]  # PostgreSQL types too

    text = cli(stack.config, "status")
    assert text.exit_code == 0
    assert f"database {db.name} (postgresql)" in text.output and "last backup:" in text.output

    # a request held in flight by a table lock shows on the worker serving it
    with blocked_search(stack, db) as pending:
        # a report sent a few seconds earlier may still show another short call in flight
        data = wait_for_status(
            stack.config,
            lambda d: [f"/{db.name}/" in r["request"] for r in d["requests"]] == [True],
        )
        (request,) = data["requests"]
        assert request["pid"] in stack.worker_pids() and request["since_s"] >= 0
        assert f"/{db.name}/" in request["request"] and "[POST]" in request["request"]
        busy = next(p for p in data["processes"] if p["pid"] == request["pid"])
        assert busy["in_flight"] == 1
        assert data["requests_source"] == {"available": True, "reason": None}
        text = cli(stack.config, "status")
        assert "requests in flight: 1" in text.output and f"pid {request['pid']}" in text.output
    assert pending.result(timeout=30) >= 0  # the request completes once the lock is gone
    data = wait_for_status(stack.config, lambda d: not d["requests"])
    assert busy["pid"] in {p["pid"] for p in data["processes"] if p["in_flight"] == 0}

    top = cli(stack.config, "top", "--iterations", "2", "--interval", "0.1")
    assert top.exit_code == 0, top.output
    assert "app-worker" in top.output and "redis" in top.output

    # doctor reads the trytond.conf the running workers use, and their environment
    context = Context(stack.config, environ={})
    found = {f.code: f for f in run(context)}
    assert context.conf_source == str(stack.config.run_dir / "trytond.conf")
    assert len(context.app_environs) == 3  # gunicorn master + 2 workers
    assert "startup.database-names" not in found
    assert found["cache.stale-multiworker"].severity == "error"
    assert {"server.no-front", "redis.no-maxmemory", "redis.eviction-policy"} <= set(found)
    assert "backups.none-recent" not in found

    # the fix: NOTIFY invalidation, rendered into the file the workers read
    fixed = derive(stack.config, {"cache": {"clean_timeout": 0}})
    write_trytond_conf(fixed)
    found = {f.code for f in run(Context(fixed, environ={}))}
    assert "cache.stale-multiworker" not in found


def test_status_when_nothing_runs(make_trytond_db):
    db = make_trytond_db("sqlite")
    result = cli(db.config, "status", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert not data["running"] and data["processes"] == []
    assert data["database"]["exists"] and data["database"]["connections"] is None
    assert data["last_backup"] is None and data["redis"] == [] and data["cache"] is None
    states = {a["name"]: a["state"] for a in data["accelerators"]}
    assert states == {"json_response": "off", "view_cache": "off", "record_init": "off"}
    # the queue and cron, read from the database itself: nothing queued, trytond's cron jobs
    assert data["jobs"]["tasks"] == []
    methods = {job["method"] for job in data["jobs"]["cron"]}
    assert "ir.queue|clean" in methods or len(methods) > 1, data["jobs"]
    assert all(job["last_started"] is None for job in data["jobs"]["cron"])  # never ran
    with connect(db.config, db.name) as session:
        for taken in (None, None, "2026-01-01 00:00:00"):
            session.execute(
                "INSERT INTO ir_queue (name, enqueued_at, dequeued_at, create_date, create_uid) "
                "VALUES ('ops.test', CURRENT_TIMESTAMP, %s, CURRENT_TIMESTAMP, 0)",
                (taken,),
            )
    jobs = json.loads(cli(db.config, "status", "--json").output)["jobs"]
    assert jobs["tasks"] == [{"name": "ops.test", "pending": 2, "unfinished": 1}]
    assert "queue: 2 pending, 1 taken unfinished; cron: " in cli(db.config, "status").output
    on = cli(derive(db.config, {"accel": {"json_response": True}}), "status")
    assert "json_response on" in on.output and "view_cache off" in on.output


def test_status_probes_rediss_with_the_deployments_private_ca(make_trytond_db, redis_factory):
    redis = redis_factory(password="s3cret-pass", tls=True)
    db = make_trytond_db("sqlite")
    untrusted = derive(db.config, {"redis": {"uri": redis.tls_uri}})
    result = cli(untrusted, "status", "--json")
    (probe,) = json.loads(result.output)["redis"]
    assert probe["uri"] == redis.tls_uri.replace("s3cret-pass", "***")
    assert "used_memory" not in probe and "set tls_ca_file" in probe["error"]
    assert "s3cret-pass" not in result.output

    trusted = derive(untrusted, {"redis": {"tls_ca_file": str(redis.ca_file)}})
    (probe,) = json.loads(cli(trusted, "status", "--json").output)["redis"]
    assert "error" not in probe and probe["used_memory"] > 0
