"""`view_cache`: trytond's cache now stores the party form view; values are copied immutably."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.testing.databases import derive

CHECK = Path(__file__).parent / "inproc" / "check_view_cache.py"


@pytest.mark.parametrize(("enabled", "misses"), [(False, 3), (True, 1)])
def test_party_form_is_cached_only_with_view_cache(make_trytond_db, enabled, misses):
    db = make_trytond_db("sqlite")
    config = derive(db.config, {"accel": {"view_cache": enabled}})
    env = trytond_env(config, TRYTOND_DATABASE_NAMES=db.name)
    proc = subprocess.run(
        [sys.executable, str(CHECK), db.password],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=config.run_dir,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # stock: every call misses (the value cannot be stored); accelerated: only the first
    assert result["party_form_misses"] == misses
    assert result["decided"] == ({"view_cache": "on"} if enabled else {})


def test_immutable_copies_mapping_proxies():
    code = """
    from types import MappingProxyType
    from trytond import cache
    from tryton_ops.accel import view_cache
    inner = {"b": [1, {"c": {2}}]}
    value = {"a": MappingProxyType(inner), "l": [MappingProxyType({"x": 1})]}
    try:
        cache.immutable(value)
    except TypeError:
        pass
    else:
        raise SystemExit("stock immutable no longer fails: re-verify view_cache")
    view_cache.apply()
    assert view_cache.is_applied()
    frozen = cache.immutable(value)
    assert isinstance(frozen, MappingProxyType)
    assert isinstance(frozen["a"], MappingProxyType) and frozen["a"] is not value["a"]
    assert frozen["a"]["b"] == (1, MappingProxyType({"c": frozenset({2})}))
    assert isinstance(frozen["l"][0], MappingProxyType)
    inner["b"].append(3)  # the stored copy does not follow the original
    inner["new"] = 1
    assert frozen["a"]["b"] == (1, MappingProxyType({"c": frozenset({2})}))
    assert "new" not in frozen["a"]
    assert cache.immutable([1, {2}]) == (1, frozenset({2}))  # stock cases unchanged
    try:
        view_cache.apply()
    except view_cache.NotApplicable as exc:
        assert "already" in str(exc)
    else:
        raise SystemExit("applied twice")
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
