"""The key of the call fingerprints: random per deployment, a 0600 file, never in trytond.conf
or a log, configurable, rotated by `perf rotate-key` (workers follow within seconds)."""

from __future__ import annotations

import hashlib
import json
import stat
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import pytest

from tryton_ops.perf import fp_key
from tryton_ops.perf.records import fingerprint
from tryton_ops.testing.databases import derive

from .helpers import run_cli, wait_records
from .test_attribution import _session
from .test_stack import PERF

METHOD = "model.party.party.search_count"
PARAMS = [[["name", "=", "fp-probe"]], {}]


def probe(stack, database, headers) -> None:
    body = {"id": 1, "method": METHOD, "params": PARAMS}
    response = httpx.post(f"{stack.url}{database.name}/rpc/", json=body, headers=headers)
    assert response.status_code == 200


def key_of(path) -> bytes:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return bytes.fromhex(path.read_text().strip())


def test_fingerprint_key_is_a_rotatable_secret(make_trytond_db, tryton_stack, tmp_path):
    database = make_trytond_db("sqlite")
    stack = tryton_stack(database, workers=2, perf=PERF)
    admin = stack.connect()
    headers = _session("admin", admin.user_id, admin.session)
    probe(stack, database, headers)
    records = wait_records(stack.config, lambda rs: any(r["method"] == METHOD for r in rs))
    [first] = [r for r in records if r["method"] == METHOD]

    path = stack.config.data_dir / "perf-fp-key"
    key = key_of(path)
    assert len(key) == 32
    assert first["fp"] == fingerprint(METHOD, PARAMS, key)
    # not the key an outsider can derive from the public deployment name
    public = hashlib.sha256(f"tryton-ops-fp\0tryton-ops:{stack.config.settings.name}:perf".encode())
    assert first["fp"] != fingerprint(METHOD, PARAMS, public.digest())
    for written in stack.config.run_dir.rglob("*"):
        if written.is_file():
            assert key.hex() not in written.read_text(errors="replace"), written

    rotated = run_cli(stack.config, tmp_path, "perf", "rotate-key")
    assert rotated.exit_code == 0, rotated.output
    assert "written before" in rotated.output and key.hex() not in rotated.output
    new_key = key_of(path)
    assert new_key != key
    expected = fingerprint(METHOD, PARAMS, new_key)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # both workers re-read the key within seconds
        probe(stack, database, headers)
        records = wait_records(stack.config, lambda rs: True)
        rotated_pids = {r["pid"] for r in records if r["method"] == METHOD and r["fp"] == expected}
        if len(rotated_pids) == 2:
            break
        time.sleep(0.2)
    assert len(rotated_pids) == 2
    assert {r["fp"] for r in records if r["method"] == METHOD} == {first["fp"], expected}

    # configurable; generated on first use, 0600
    custom = tmp_path / "keys" / "fp"
    elsewhere = derive(stack.config, {"perf": {**PERF, "fp_key_file": str(custom)}})
    made = run_cli(elsewhere, tmp_path, "perf", "rotate-key", "--json")
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["path"] == str(custom) and len(key_of(custom)) == 32
    custom.write_text("not a key\n")
    damaged = run_cli(elsewhere, tmp_path, "perf", "rotate-key")
    assert damaged.exit_code == 0 and len(key_of(custom)) == 32  # rotation repairs it


def _load_in_process(path: str) -> str:
    return fp_key.load(Path(path)).hex()


def test_processes_racing_to_create_the_key_agree(tmp_path):
    path = tmp_path / "data" / "perf-fp-key"
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(_load_in_process, [str(path)] * 16))
    assert keys == {path.read_text().strip()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["perf-fp-key"]  # no temporary left


def test_a_damaged_key_is_refused_and_named(tmp_path):
    path = tmp_path / "perf-fp-key"
    path.write_text("0123\n")
    with pytest.raises(fp_key.FingerprintKeyError, match="perf rotate-key"):
        fp_key.KeyFile(path).current()
    fp_key.rotate(path)
    assert len(fp_key.KeyFile(path).current()) == fp_key.KEY_BYTES
