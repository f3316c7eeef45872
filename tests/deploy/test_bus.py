"""The bus: a gevent instance behind nginx delivers a published message to a long poll."""

from __future__ import annotations

import base64
import subprocess
import sys
import threading

import httpx

from tests.deploy.test_up_down import cli, status, write_config
from tryton_ops.client import Connection
from tryton_ops.config import load_config
from tryton_ops.testing.processes import free_port


def test_bus_delivers_a_message_through_nginx(make_trytond_db, tmp_path):
    db = make_trytond_db("postgresql")
    config = write_config(tmp_path, db, front={"enabled": "on"}, workers=1)
    config.write_text(
        config.read_text() + f'[bus]\nenabled = true\nlisten = "127.0.0.1:{free_port()}"\n'
    )
    try:
        result = cli(config, "up", "--detach")
        assert result.returncode == 0, result.stderr
        assert {"bus", "front", "app"} <= {row["role"] for row in status(config)["processes"]}
        url = result.stdout.split("ready: ")[1].split()[0]
        with Connection(url, db.name) as conn:
            login = conn.call("common.db.login", "admin", {"password": db.password}, "en")
            user_id, session, bus_url = login
        assert bus_url is not None  # allow_subscribe was rendered
        token = base64.b64encode(f"admin:{user_id}:{session}".encode()).decode()
        headers = {"Authorization": f"Session {token}"}
        received = {}

        def poll():
            received["response"] = httpx.post(
                f"{bus_url.rstrip('/')}/{db.name}/bus",
                json={"channels": ["ops-test"], "last_message": None},
                headers=headers,
                timeout=60,
            )

        poller = threading.Thread(target=poll)
        poller.start()
        conf = load_config(config).run_dir / "trytond.conf"
        script = (
            "import sys, time\n"
            "from trytond.bus import Bus\n"
            "from trytond.pool import Pool\n"
            "from trytond.transaction import Transaction\n"
            "Pool(sys.argv[1]).init()\n"
            "time.sleep(1)\n"
            "with Transaction().start(sys.argv[1], 0):\n"
            "    Bus.publish('ops-test', {'hello': 'from cron'})\n"
        )
        subprocess.run(
            [sys.executable, "-c", script, db.name],
            env={"TRYTOND_CONFIG": str(conf), "PATH": "/usr/bin:/bin"},
            check=True,
            timeout=60,
        )
        poller.join(60)
        response = received["response"]
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["channel"] == "ops-test"
        assert body["message"]["hello"] == "from cron"
    finally:
        cli(config, "down")


def test_bus_needs_postgresql(tmp_path):
    config = write_config(tmp_path, workers=1)
    config.write_text(config.read_text() + "[bus]\nenabled = true\n")
    result = cli(config, "up", "--detach")
    assert result.returncode == 2
    assert "bus.enabled needs a postgresql:// database.uri" in result.stderr
