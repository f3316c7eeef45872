"""Applying accelerators inside a trytond process: once, verified versions only, one log line.

Each case runs in a fresh Python process: what is applied is decided once per process, and
patching trytond in the test runner would leak into other tests.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.testing.databases import make_config

PRELUDE = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
from trytond.protocols.jsonrpc import JSONProtocol
from tryton_ops.accel import json_response, runtime
STOCK = JSONProtocol.__dict__["response"]
"""


def run(code: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def accel_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "tryton-ops accel" in line]


def test_refused_on_an_unverified_trytond_with_one_clear_line():
    proc = run(
        """
        assert runtime.apply_enabled(["json_response"], version="8.4.0") == {
            "json_response": "refused"}
        assert runtime.apply_enabled(["json_response"], version="8.4.0")["json_response"] == (
            "refused")
        assert JSONProtocol.__dict__["response"] is STOCK and not json_response.is_applied()
        """
    )
    assert accel_lines(proc) == [
        "WARNING tryton-ops accel: json_response NOT applied: trytond 8.4.0 is not a verified "
        "version (verified: 8.0.x, 8.2.x); trytond runs unchanged"
    ]


def test_applied_once_on_the_installed_trytond():
    proc = run(
        """
        import trytond
        assert runtime.apply_enabled(["json_response"]) == {"json_response": "on"}
        patched = JSONProtocol.__dict__["response"]
        assert runtime.apply_enabled(["json_response"]) == {"json_response": "on"}
        assert JSONProtocol.__dict__["response"] is patched  # not wrapped twice
        assert json_response.is_applied()
        print(trytond.__version__)
        """
    )
    version = proc.stdout.strip()
    assert version[:3] in ("8.0", "8.2")
    assert accel_lines(proc) == [
        f"INFO tryton-ops accel: json_response applied (trytond {version})"
    ]


def test_refused_when_the_target_was_already_replaced():
    proc = run(
        """
        def other(cls, data, request):
            return None
        JSONProtocol.response = classmethod(other)
        assert runtime.apply_enabled(["json_response"]) == {"json_response": "refused"}
        assert JSONProtocol.__dict__["response"].__func__ is other
        """
    )
    (line,) = accel_lines(proc)
    assert line.startswith("WARNING tryton-ops accel: json_response NOT applied on trytond 8.")
    assert line.endswith("already replaced by __main__; trytond runs unchanged")


def test_unknown_name_is_ignored_with_a_warning():
    proc = run('assert runtime.apply_enabled(["turbo"]) == {"turbo": "unknown"}')
    assert accel_lines(proc) == ["WARNING tryton-ops accel: unknown accelerator 'turbo' ignored"]


def _trytond_wsgi_env(tmp_path: Path, enabled: bool) -> dict:
    config = make_config(tmp_path, {"accel": {"json_response": enabled}})
    return trytond_env(config)


def test_middleware_applies_what_trytond_conf_enables(tmp_path):
    proc = run(
        """
        import trytond.wsgi  # builds the [wsgi middleware] chain of TRYTOND_CONFIG
        assert runtime.decided() == {"json_response": "on"}, runtime.decided()
        assert json_response.is_applied()
        """,
        env=_trytond_wsgi_env(tmp_path, enabled=True),
        cwd=tmp_path,
    )
    assert len(accel_lines(proc)) == 1


def test_nothing_applied_when_all_are_off(tmp_path):
    proc = run(
        """
        import trytond.wsgi
        assert runtime.decided() == {}
        assert JSONProtocol.__dict__["response"] is STOCK
        """,
        env=_trytond_wsgi_env(tmp_path, enabled=False),
        cwd=tmp_path,
    )
    assert accel_lines(proc) == []
