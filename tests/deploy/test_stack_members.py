"""Which processes belong to a stack: a path under its run directory, not a name sharing its
prefix (`down` kills what it finds)."""

from __future__ import annotations

import subprocess
import sys

from tryton_ops.deploy.local_stack import stack_members


def test_only_paths_under_the_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = subprocess.Popen([*sleeper, str(run_dir / "gunicorn.conf.py")])
    also_ours = subprocess.Popen([*sleeper, str(run_dir)])
    neighbour = subprocess.Popen([*sleeper, f"{run_dir}.py", f"{run_dir}-old/x"])
    try:
        found = {proc.pid for proc in stack_members(run_dir)}
        assert ours.pid in found and also_ours.pid in found
        assert neighbour.pid not in found
    finally:
        for proc in (ours, also_ours, neighbour):
            proc.kill()
            proc.wait()
