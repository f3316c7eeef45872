"""trytond's cache contract on SQLite and PostgreSQL, in a trytond process using RedisCache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.testing.databases import derive

CASES = Path(__file__).parent / "inproc" / "contract_cases.py"


def cache_config(database, redis, **extra):
    values = {"backend": "redis", "redis_uri": redis.uri, "timeout": 0.3}
    values.update({"connect_timeout": 0.3, "retry_interval": 0.5, **extra})
    return derive(database.config, {"cache": values})


def test_contract(trytond_db, redis_server):
    config = cache_config(trytond_db, redis_server)
    env = trytond_env(config, OPS_TEST_DB=trytond_db.name, OPS_TEST_REDIS_PID=str(redis_server.pid))
    proc = subprocess.run(
        [sys.executable, str(CASES)], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert " ... ok" in proc.stderr
