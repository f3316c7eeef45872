"""uWSGI as the app server: the real `tryton-ops up` with nginx, the analyzer and RedisCache."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from tests.deploy.test_up_down import alive, all_pids, cli, pid_of, status, wait_for, write_config
from tests.perf.helpers import wait_records
from tryton_ops.access.database import sqlite_file
from tryton_ops.client import Connection
from tryton_ops.config import load_config

EXTRA = """
[perf]
enabled = true
flush_interval_ms = 100
[cache]
backend = "redis"
redis_uri = "{redis}"
"""


def calls_in_flight(config) -> int:
    """Requests the app workers report in flight (trytond's status reports, every few s)."""
    return sum(
        r["in_flight"] or 0 for r in status(config)["processes"] if r["role"] == "app-worker"
    )


def app_restarted(config, old_master: int) -> bool:
    """The supervisor runs a new app master (while it restarts, the app may be missing)."""
    rows = {r["role"]: r for r in status(config)["processes"]}
    app = rows.get("app")
    return app is not None and app["pid"] != old_master and app["state"] == "RUNNING"


def app_workers(config) -> list[int]:
    return sorted(r["pid"] for r in status(config)["processes"] if r["role"] == "app-worker")


class Load:
    """Clients calling search_read in a loop; every failure is kept."""

    def __init__(self, url: str, db, clients: int = 3):
        self.url, self.db = url, db
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with Connection(self.url, self.db.name) as conn:
            conn.login("admin", self.db.password)
            while not self._stop.is_set():
                try:
                    conn.call("model.party.party.search_read", [], 0, 20, None, ["name"], {})
                    self.ok += 1
                except Exception as exc:  # every failure is recorded and fails the test
                    self.failed.append(repr(exc))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


@pytest.mark.one_series  # uWSGI serves trytond's WSGI app, the same on every series
def test_uwsgi_serves_recovers_and_reloads_without_failures(
    make_trytond_db, redis_server, tmp_path
):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, front={"enabled": "on"}, app_server="uwsgi", workers=2)
    config.write_text(config.read_text() + EXTRA.format(redis=redis_server.uri))
    loaded = load_config(config)
    try:
        result = cli(config, "up", "--detach")
        assert result.returncode == 0, result.stderr
        url = result.stdout.split("ready: ")[1].split()[0]
        assert (loaded.run_dir / "uwsgi.ini").exists()
        assert not (loaded.run_dir / "gunicorn.conf.py").exists()
        master = pid_of(config, "app")
        assert "uwsgi" in " ".join(psutil.Process(master).cmdline())

        # a real login and read through nginx, with the analyzer and RedisCache in the workers
        with Connection(url, db.name) as conn:
            conn.login("admin", db.password)
            [party_id] = conn.call("model.party.party.create", [{"name": "Via uwsgi"}], {})
            [party] = conn.call("model.party.party.read", [party_id], ["name"], {})
            assert party["name"] == "Via uwsgi"
            token = f"admin:{conn.user_id}:{conn.session}"
        response = httpx.post(
            f"{url}{db.name}/rpc/",
            json={"id": 1, "method": "model.party.party.search_count", "params": [[], {}]},
            headers={"Authorization": "Session " + base64.b64encode(token.encode()).decode()},
        )
        assert response.json()["result"] >= 1
        assert response.headers["RPC-Method"] == "model.party.party.search_count"
        workers = set(app_workers(config))
        records = wait_records(
            loaded,
            lambda rs: any(r["method"] == "model.party.party.search_count" for r in rs),
        )
        [read] = [r for r in records if r["method"] == "model.party.party.read"]
        assert read["login"] == "admin" and read["sql_count"] > 0
        assert {r["pid"] for r in records} <= workers  # recorded by the uWSGI workers
        assert any(redis_server.client().scan_iter(match="tryton:*", count=1000))
        access = loaded.run_dir / "logs" / "nginx-access.log"  # written after the response
        wait_for(lambda: "rpc=model.party.party.search_count" in access.read_text())

        # a worker killed with SIGKILL is replaced by the uWSGI master
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(app_workers(config)) == 2 and victim not in app_workers(config))
        with Connection(url, db.name) as conn:
            conn.login("admin", db.password)
            assert conn.call("model.party.party.search_count", [], {}) >= 1

        # graceful reload under load: new workers, same master, no failed request
        before = app_workers(config)
        with Load(url, db) as load:
            wait_for(lambda: load.ok > 20)
            reloaded = cli(config, "reload")
            assert reloaded.returncode == 0, reloaded.stderr
            wait_for(
                lambda: (
                    len(app_workers(config)) == 2 and not set(app_workers(config)) & set(before)
                ),
                timeout=90,
            )
            count = load.ok
            wait_for(lambda: load.ok > count + 20)  # served by the new workers
        assert load.failed == []
        assert pid_of(config, "app") == master  # the master re-executed itself in place
        pids = all_pids(config)

        # graceful stop: SIGTERM (what systemd and supervisor send) lets a call in flight on
        # uWSGI finish before the master exits; the supervisor then starts it again
        direct = f"http://{loaded.settings.server.listen}/"
        with Connection(direct, db.name) as conn, ThreadPoolExecutor(1) as pool:
            conn.login("admin", db.password)
            lock = sqlite3.connect(sqlite_file(loaded, db.name), isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")  # the create below waits for this write lock
            try:
                pending = pool.submit(
                    conn.call, "model.party.party.create", [{"name": "During stop"}], {}
                )
                wait_for(lambda: calls_in_flight(config) == 1, timeout=30)
                os.kill(master, signal.SIGTERM)
                # uWSGI's log of the shutdown is written late: give the signal time to act (a
                # brutal stop kills the workers, and fails the call, at once)
                time.sleep(2)
            finally:
                lock.execute("ROLLBACK")
            assert len(pending.result(timeout=60)) == 1
        wait_for(lambda: app_restarted(config, master), timeout=60)
        assert "graceful shutdown triggered" in (loaded.run_dir / "logs" / "server.log").read_text()
    finally:
        cli(config, "down")
    assert alive(pids) == []
