"""The full local stack: nginx in front (TLS, security rules), cron, queue workers, reload."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import psutil
import pytest

from tests.deploy.test_up_down import cli, pid_of, status, wait_for, write_config
from tryton_ops.client import Connection
from tryton_ops.config import load_config

RPC_HEADERS = {"Content-Type": "application/json"}


@pytest.fixture
def stack_config(tmp_path):
    configs = []

    def make(db, front=None, **server):
        config = write_config(tmp_path, db, front={"enabled": "on", **(front or {})}, **server)
        configs.append(config)
        result = cli(config, "up", "--detach")
        assert result.returncode == 0, result.stderr
        return config, result.stdout.split("ready: ")[1].split()[0]

    yield make
    for config in configs:
        cli(config, "down")


def test_login_through_nginx_over_https(make_trytond_db, stack_config):
    db = make_trytond_db("sqlite")
    config, url = stack_config(db, front={"tls": True}, workers=2)
    assert url.startswith("https://")
    settings = load_config(config).settings
    plain = f"http://{settings.front.listen}/"
    redirect = httpx.get(plain + "anything?x=1", follow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["location"].startswith("https://")
    assert redirect.headers["location"].endswith("/anything?x=1")
    with Connection(url, db.name, verify=False) as conn:
        conn.login("admin", db.password)
        assert conn.call("model.party.party.search_count", [], {}) >= 0
    response = httpx.post(
        url + "rpc/",
        json={"id": 1, "method": "common.server.version", "params": []},
        verify=False,
    )
    assert response.status_code == 200
    assert response.headers["server"] == "nginx"  # no version: server_tokens off
    assert response.headers["strict-transport-security"].startswith("max-age=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    info = {row["role"] for row in status(config)["processes"]}
    assert {"supervisor", "app", "front"} <= info


def test_workers_see_the_client_address_through_the_proxy(make_trytond_db, stack_config):
    """num_proxies = 1 is rendered: sessions bound to the client IP keep working via nginx."""
    db = make_trytond_db("sqlite")
    config, url = stack_config(db, workers=2)
    with Connection(url, db.name) as conn:
        conn.login("admin", db.password)
        for _ in range(4):  # reaches both workers
            assert conn.call("model.res.user.get_preferences", False, {})["language"] == "en"
    rendered = (load_config(config).run_dir / "trytond.conf").read_text()
    assert "num_proxies = 1" in rendered


FORGED_FORWARDING = {
    "X-Forwarded-Prefix": "/attacker",
    "X-Forwarded-Port": "6666",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "gopher",
}


@pytest.mark.parametrize("tls", [False, True])
def test_forged_forwarding_headers_do_not_reach_trytond(make_trytond_db, stack_config, tls):
    """trytond trusts every X-Forwarded-* header ProxyFix reads (num_proxies = 1): nginx sets or
    clears each, so a redirect trytond builds points at the front, not where a client says."""
    db = make_trytond_db("sqlite")
    _, url = stack_config(db, front={"tls": tls}, workers=1)
    base = url.rstrip("/")
    response = httpx.post(
        f"{base}/{db.name}/rpc",  # no trailing slash: trytond answers 308 to .../rpc/
        json={"id": 1, "method": "common.server.version", "params": []},
        headers=FORGED_FORWARDING,
        follow_redirects=False,
        verify=False,
    )
    assert response.status_code == 308
    assert response.headers["location"] == f"{base}/{db.name}/rpc/"


def test_login_rate_limit(make_trytond_db, stack_config):
    db = make_trytond_db("sqlite")
    _, url = stack_config(db, front={"login_rate_per_minute": 2}, workers=1)
    codes = [
        httpx.post(url + f"{db.name}/session/login", json={"login": "x"}).status_code
        for _ in range(12)
    ]
    assert 429 in codes
    with Connection(url, db.name) as conn:
        conn.login("admin", db.password)  # JSON-RPC login is not behind that limit


def test_large_json_is_gzipped_by_nginx(make_trytond_db, stack_config):
    db = make_trytond_db("sqlite")
    _, url = stack_config(db, workers=1)
    with Connection(url, db.name) as conn:
        conn.login("admin", db.password)
        token = conn.login_name, conn.user_id, conn.session
    import base64

    auth = base64.b64encode(":".join(map(str, token)).encode()).decode()
    body = {"id": 1, "method": "model.party.party.fields_get", "params": [[], {}]}
    headers = {"Authorization": f"Session {auth}", "Accept-Encoding": "gzip"}
    response = httpx.post(url + f"{db.name}/rpc/", json=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "name" in response.json()["result"]  # decompressed correctly


def test_admin_paths_only_from_allowed_networks(make_trytond_db, stack_config):
    db = make_trytond_db("sqlite")
    _, url = stack_config(db, front={"allowed_networks": ["10.0.0.0/8"]}, workers=1)
    assert httpx.get(url + "-/anything").status_code == 403
    assert httpx.get(url + f"{db.name}/").status_code != 403


def test_admin_paths_pass_from_allowed_networks(make_trytond_db, stack_config):
    db = make_trytond_db("sqlite")
    _, url = stack_config(db, workers=1)  # default: 127.0.0.0/8 and ::1 allowed
    assert httpx.get(url + "-/anything").status_code != 403


def test_cron_and_queue_worker_run_a_task(make_trytond_db, postgres_server, tmp_path):
    db = make_trytond_db("postgresql")
    config = write_config(tmp_path, db, workers=1)
    text = config.read_text() + "[cron]\nenabled = true\n[queue]\nworkers = 1\n"
    config.write_text(text)
    try:
        result = cli(config, "up", "--detach")
        assert result.returncode == 0, result.stderr
        roles = {row["role"] for row in status(config)["processes"]}
        assert {"app", "cron", "queue0"} <= roles
        conf = load_config(config).run_dir / "trytond.conf"
        assert "[queue]\nworker = True" in conf.read_text()
        script = (
            "import sys\n"
            "from trytond.pool import Pool\n"
            "from trytond.transaction import Transaction\n"
            "db = sys.argv[1]\n"
            "Pool(db).init()\n"
            "with Transaction().start(db, 0):\n"
            "    Party = Pool().get('party.party')\n"
            "    party, = Party.create([{'name': 'before'}])\n"
            "    Party.__queue__.write([party], {'name': 'done by the queue'})\n"
            "    print(party.id)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, db.name],
            env={"TRYTOND_CONFIG": str(conf), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        party_id = int(out.stdout.strip().splitlines()[-1])
        url = result.stdout.split("ready: ")[1].split()[0]
        with Connection(url, db.name) as conn:
            conn.login("admin", db.password)

            def done():
                [party] = conn.call("model.party.party.read", [party_id], ["name"], {})
                return party["name"] == "done by the queue"

            wait_for(done, timeout=60, interval=0.5)
    finally:
        cli(config, "down")


def test_reload_under_load_fails_no_request(make_trytond_db, stack_config):
    db = make_trytond_db("sqlite")
    config, url = stack_config(db, workers=2)
    before = sorted(r["pid"] for r in status(config)["processes"] if r["role"] == "app-worker")
    front_pid = pid_of(config, "front")
    stop = threading.Event()
    results = {"ok": 0, "failed": []}

    def load():
        with Connection(url, db.name) as conn:
            conn.login("admin", db.password)
            while not stop.is_set():
                try:
                    conn.call("model.party.party.search_read", [], 0, 20, None, ["name"], {})
                    results["ok"] += 1
                except Exception as exc:  # every failure is recorded and fails the test
                    results["failed"].append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: results["ok"] > 20)
        reloaded = cli(config, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        # nothing of nginx changed: it is left alone (its clients' keep-alive connections too)
        assert "app" in reloaded.stdout and "front" not in reloaded.stdout

        def replaced():
            rows = status(config)["processes"]
            workers = sorted(r["pid"] for r in rows if r["role"] == "app-worker")
            return len(workers) == 2 and not set(workers) & set(before)

        wait_for(replaced, timeout=90)
        count = results["ok"]
        wait_for(lambda: results["ok"] > count + 20)  # served by the new workers
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert results["failed"] == []
    # a changed nginx setting: nginx is reloaded too, in place (same master), not restarted
    config.write_text(config.read_text().replace("[front]\n", "[front]\nmax_body_mb = 60\n", 1))
    reloaded = cli(config, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert "front" in reloaded.stdout
    assert pid_of(config, "front") == front_pid


def test_reload_when_not_running(tmp_path):
    config = write_config(tmp_path, workers=1)
    result = cli(config, "reload")
    assert result.returncode == 1
    assert "not running" in result.stderr


@pytest.mark.one_series
def test_idle_connections_to_gthread_workers_outlive_nginx_keepalive(make_trytond_db, stack_config):
    """gunicorn's gthread workers closed an idle connection after 2 s while nginx kept it for
    reuse: under load nginx sent requests on connections being closed (502, "upstream
    prematurely closed connection"). Now the worker keeps it longer than nginx does."""
    db = make_trytond_db("sqlite")
    config, url = stack_config(db, workers=1, threads=2)
    app_port = load_config(config).settings.server.port
    with Connection(url, db.name) as conn:
        conn.login("admin", db.password)
        conn.call("model.party.party.search_read", [], 0, 1, None, ["name"], {})
    time.sleep(4)  # past gunicorn's default keepalive
    nginx = psutil.Process(pid_of(config, "front"))
    upstream = [
        c
        for process in [nginx, *nginx.children()]
        for c in process.net_connections(kind="tcp")
        if c.raddr and c.raddr.port == app_port and c.status == psutil.CONN_ESTABLISHED
    ]
    assert upstream, "nginx holds no idle connection to the app worker any more"
