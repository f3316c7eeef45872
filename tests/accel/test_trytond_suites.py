"""trytond's own test modules pass with every accelerator on.

`ir`, `res` and `party` (the party module's test_module; its doctest scenarios need proteus,
which is not installed, and run in-process without JSON-RPC anyway), plus trytond's protocol,
WSGI and REST tests, which go through `JSONProtocol.response`. One subprocess on SQLite, with
the trytond.conf that tryton-ops renders; the driver fails unless the accelerators are applied.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tryton_ops.accel import ACCELERATORS
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.testing.databases import make_config

DRIVER = Path(__file__).parent / "inproc" / "run_suites.py"
MODULES = (
    "trytond.tests.test_ir",
    "trytond.tests.test_res",
    "trytond.tests.test_protocols",
    "trytond.tests.test_wsgi",
    "trytond.tests.test_rest",
    "trytond.modules.party.tests.test_module",
)


def test_trytond_suites_pass_with_all_accelerators_on(tmp_path):
    config = make_config(
        tmp_path,
        {"database": {"uri": "sqlite://"}, "accel": {name: True for name in ACCELERATORS}},
    )
    env = trytond_env(config, DB_NAME=":memory:")
    (tmp_path / "data" / "db").mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(DRIVER), *MODULES],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-8000:]
    assert f"suites run with { {name: 'on' for name in ACCELERATORS} }" in proc.stderr
    ran = int(proc.stderr.split("\nRan ")[1].split()[0])
    assert ran > 150 and "\nOK" in proc.stderr
