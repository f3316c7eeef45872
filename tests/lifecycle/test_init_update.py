"""db init from the template cache, and db update of only the changed modules, on both backends.

Three throw-away modules registered under the trytond.modules entry point of a temporary
directory: ops_lca (depends on party), ops_lcb (depends on ops_lca), ops_lcc (ir only).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tryton_ops.access.database import activated_modules, connect
from tryton_ops.client.errors import RPCError
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.deploy.local_stack import processes
from tryton_ops.lifecycle import templates
from tryton_ops.lifecycle.database import drop_database
from tryton_ops.lifecycle.init import init_database
from tryton_ops.lifecycle.lock import exclusive
from tryton_ops.testing.databases import ADMIN_PASSWORD, TestDatabase, make_config

from .helpers import cli, write_module

LOGIN_CHECK = """
import sys
from trytond.pool import Pool
from trytond.transaction import Transaction
db, password = sys.argv[1], sys.stdin.read().strip()
Pool(db).init()
with Transaction().start(db, 0):
    User = Pool().get('res.user')
    print(User.get_login('admin', {'password': password}))
"""


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def _can_login(config, name: str, password: str) -> bool:
    """Ask trytond itself whether admin logs in with this password."""
    proc = subprocess.run(
        [sys.executable, "-c", LOGIN_CHECK, name],
        input=password,
        env=trytond_env(config),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip().splitlines()[-1] not in ("None", "")


@pytest.fixture
def lifecycle_modules(tmp_path, monkeypatch):
    root = tmp_path / "modules"
    write_module(root, "ops_lca", ["party"])
    write_module(root, "ops_lcb", ["ops_lca"])
    write_module(root, "ops_lcc", ["ir"])
    monkeypatch.syspath_prepend(str(root))  # this process (checksums, plans)
    monkeypatch.setenv("PYTHONPATH", str(root))  # trytond-admin subprocesses
    return root


def test_init_from_template_then_update_only_changed(
    request, db_backend, lifecycle_modules, tmp_path, monkeypatch
):
    uri = "sqlite://" if db_backend == "sqlite" else request.getfixturevalue("postgres_server").uri
    password_file = tmp_path / "pw"
    password_file.write_text("first-password\n")
    config = make_config(tmp_path / "deploy", {"database": {"uri": uri}})
    request.addfinalizer(lambda: _cleanup(config))
    modules = ["ops_lcb", "ops_lcc"]

    first = _json(
        cli(config, "db", "init", "-d", "first", "-m", "ops_lcb,ops_lcc",
            "--password-file", str(password_file), "--json")
    )  # fmt: skip
    assert not first["from_template"]
    with connect(config, "first") as session:
        assert {"party", "ops_lca", "ops_lcb", "ops_lcc"} <= set(activated_modules(session))

    monkeypatch.setenv("TRYTON_ADMIN_PASSWORD", "second-password")
    second = _json(
        cli(config, "db", "init", "-d", "second", "-m", "ops_lcb", "-m", "ops_lcc", "--json")
    )
    assert second["from_template"] and second["template"] == first["template"]
    assert second["password"] == "$TRYTON_ADMIN_PASSWORD"
    print(
        f"\n[{db_backend}] db init: first {first['seconds']:.2f} s (trytond-admin), second "
        f"{second['seconds']:.2f} s (template): x{first['seconds'] / second['seconds']:.1f}"
    )
    assert _can_login(config, "second", "second-password")
    assert not _can_login(config, "second", "first-password")
    assert _can_login(config, "first", "first-password")
    monkeypatch.delenv("TRYTON_ADMIN_PASSWORD")
    third = cli(config, "db", "init", "-d", "third", "-m", "ops_lcb,ops_lcc", "--prompt", "--json",
                input="third-password\nthird-password\n")  # fmt: skip
    assert _json(third)["from_template"] and _json(third)["password"] == "prompt"
    assert _can_login(config, "third", "third-password")
    assert _family(config, first["template"]) == [first["template"]]
    assert "second" in _list(config) and first["template"] not in _list(config)

    # nothing changed since init
    assert (
        _json(cli(config, "db", "update", "-d", "second", "--dry-run", "--json"))["modules"] == []
    )

    # a changed file of ops_lca: it and its dependent ops_lcb, not party nor ops_lcc
    (lifecycle_modules / "ops_lca" / "__init__.py").write_text("# changed\n")
    plan = _json(cli(config, "db", "update", "-d", "second", "--dry-run", "--json"))
    assert plan["modules"] == ["ops_lca", "ops_lcb"]
    assert plan["reasons"] == {
        "ops_lca": "files changed",
        "ops_lcb": "depends on an updated module",
    }
    assert templates.TemplateKey.of(config, modules).name != first["template"]

    # a second update while one runs is refused
    with exclusive(config, "second"):
        busy = cli(config, "db", "update", "-d", "second")
        assert busy.exit_code == 1
        assert "another update of database 'second' is running" in busy.output

    done = _json(cli(config, "db", "update", "-d", "second", "--json"))
    assert done["modules"] == ["ops_lca", "ops_lcb"] and done["backup"]
    assert (
        _json(cli(config, "db", "update", "-d", "second", "--dry-run", "--json"))["modules"] == []
    )
    # `first` was not updated: its recorded checksum of ops_lca is the old one
    assert _json(cli(config, "db", "update", "-d", "first", "--dry-run", "--json"))["modules"] == [
        "ops_lca",
        "ops_lcb",
    ]

    explicit = _json(cli(config, "db", "update", "-d", "second", "ops_lcc", "--dry-run", "--json"))
    assert explicit["modules"] == ["ops_lcc"]
    everything = _json(cli(config, "db", "update", "-d", "second", "--all", "--dry-run", "--json"))
    assert {"ir", "res", "party", "ops_lca", "ops_lcb", "ops_lcc"} <= set(everything["modules"])
    unknown = cli(config, "db", "update", "-d", "second", "nosuchmodule")
    assert unknown.exit_code == 2 and "not installed" in unknown.output


def _family(config, template: str) -> list[str]:
    """The templates of one module set (the harness keeps its own on the same server)."""
    family = template[: len(templates.PREFIX) + 9]
    return [name for name in templates.list_templates(config) if name.startswith(family)]


def _cleanup(config) -> None:
    """The PostgreSQL server is shared by the session: leave nothing of this test behind."""
    for name in ("first", "second", "third"):
        drop_database(config, name)
    key = templates.TemplateKey.of(config, ["ops_lcb", "ops_lcc"])
    for name in templates.list_templates(config):
        if name.startswith(key.family):
            templates.drop(config, name)


def _list(config) -> list[str]:
    return _json_list(cli(config, "db", "list", "--json"))


def _json_list(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_init_refusals(tmp_path):
    config = make_config(tmp_path, {})
    result = cli(config, "db", "init", "-d", "x", "-m", "nosuch")
    assert result.exit_code == 2 and "nosuch" in result.output
    result = cli(config, "db", "init", "-d", "ops_tmpl_x")
    assert result.exit_code == 1 and "reserved" in result.output
    result = cli(config, "db", "init", "-d", "x", "--password-file", str(tmp_path / "absent"))
    assert result.exit_code == 1 and "cannot read admin password file" in result.output
    assert not (config.data_dir / "db" / "x.sqlite").exists()


THING = """from trytond.model import ModelSQL, ModelView, fields


class Thing(ModelSQL, ModelView):
    "Ops Thing"
    __name__ = "ops.lcu.thing"
    name = fields.Char("Name")
"""


def test_update_reaches_the_running_workers(tmp_path, monkeypatch, tryton_stack):
    """A model added by an update is served by the running stack, without down/up."""
    root = tmp_path / "modules"
    package = write_module(root, "ops_lcu", ["ir"])
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PYTHONPATH", str(root))  # trytond-admin and the stack's workers
    password = tmp_path / "pw"
    password.write_text(ADMIN_PASSWORD + "\n")
    values = {"name": "upd", "modules": ["ops_lcu"], "admin_password_file": str(password)}
    config = make_config(tmp_path / "deploy", {"database": values})
    init_database(config, "upd")
    stack = tryton_stack(TestDatabase(config, "upd"), workers=1)
    conn = stack.connect()
    with pytest.raises(RPCError):
        conn.call("model.ops.lcu.thing.search_count", [], {})
    before = stack.worker_pids()
    master = _app_master(stack)

    (package / "thing.py").write_text(THING)
    cfg = package / "tryton.cfg"
    cfg.write_text(cfg.read_text() + "[register]\nmodel:\n    thing.Thing\n")
    done = _json(cli(stack.config, "db", "update", "-d", "upd", "--no-backup", "--json"))
    assert done["modules"] == ["ops_lcu"] and done["backup"] is None
    assert done["workers"] == "local stack reloaded gracefully"

    deadline = time.monotonic() + 60
    while True:  # the old worker finishes its requests, a new one loads the new pool
        try:
            assert conn.call("model.ops.lcu.thing.search_count", [], {}) == 0
            break
        except RPCError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert set(stack.worker_pids()).isdisjoint(before)  # replaced, while the master stayed
    assert _app_master(stack) == master


def _app_master(stack) -> int:
    return next(row["pid"] for row in processes(stack.config) if row["role"] == "app")
