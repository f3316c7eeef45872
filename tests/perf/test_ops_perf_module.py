"""ops_perf passes trytond's ModuleTestCase (its own tests included), on SQLite: the module
holds no table of its own, the stack test covers it on a served database."""

from __future__ import annotations

import os
import subprocess
import sys


def test_module_suite_sqlite(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRYTOND_", "DB_"))}
    done = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tryton_ops.modules.ops_perf.tests"],
        cwd=tmp_path,  # outside the source tree, as trytond's docs run module tests
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\nOK" in done.stderr
    ran = [line for line in done.stderr.splitlines() if line.startswith("Ran ")]
    assert ran and int(ran[0].split()[1]) >= 20, ran  # trytond's checks + ours
