"""Byte equivalence with stock for any value trytond can encode (hypothesis), error and size
edge cases: inproc/check_json_response.py, run in its own process (it imports trytond)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).parent / "inproc" / "check_json_response.py"


def test_accelerated_response_equals_stock_in_process(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::hypothesis.errors.HypothesisWarning",
            str(CHECK),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-8000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
