"""The client distribution alone: built from client/, installed into a fresh venv with nothing but
httpx and what httpx needs, imported there and used against a real server.

Building needs the build backends (hatchling, setuptools) and the install httpx, from PyPI.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import tryton_ops
from tryton_ops.testing.stack import TestStack

ROOT = Path(__file__).resolve().parents[2]
CLIENT_SOURCES = ROOT / "src" / "tryton_ops" / "client"

pytestmark = pytest.mark.one_series  # the same on every trytond series

# run by the fresh venv's python: every client module imported, then what is installed there
INVENTORY = """
import importlib, importlib.metadata as md, json, pkgutil, re, sys
import tryton_ops.client as client
for info in pkgutil.walk_packages(client.__path__, "tryton_ops.client."):
    importlib.import_module(info.name)
def normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()
requires = {}
for dist in md.distributions():
    requires[normal(dist.metadata["Name"])] = [
        normal(re.match(r"[A-Za-z0-9._-]+", r).group())
        for r in dist.requires or [] if "extra ==" not in r]
print(json.dumps({"requires": requires,
                  "namespace": getattr(sys.modules["tryton_ops"], "__file__", None) is None,
                  "client": client.__file__}))
"""

# run by the fresh venv's python against the stack: a dead port, then a login and a search_read
CALL = """
import json, os, socket
from tryton_ops.client import Client, TransportError
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
try:
    Client(f"http://127.0.0.1:{dead}", "db", retries=0).login("admin", "x")
except TransportError as e:
    refused = type(e).__name__
with Client(os.environ["URL"], os.environ["DB"]) as session:
    session.login("admin", os.environ["PASSWORD"])
    rows = session.model("res.user").search_read([("login", "=", "admin")], fields=["login"])
print(json.dumps({"refused": refused, "rows": rows}))
"""


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=240, env=env)


def ok(*args: str, env: dict | None = None) -> str:
    done = run(*args, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def alone(python: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    """Run code with the fresh venv's python, nothing of this process's PYTHONPATH inherited."""
    return run(str(python), "-c", code, env={"PATH": os.environ["PATH"], **env})


def build_wheel(project: Path, out: Path) -> Path:
    ok(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(project))
    [wheel] = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def client_wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT / "client", tmp_path_factory.mktemp("client-wheel"))


@pytest.fixture(scope="module")
def fresh_python(client_wheel, tmp_path_factory) -> Iterator[Path]:
    """A new venv (no pip in it: nothing but what the client brings) with the client wheel."""
    venv = tmp_path_factory.mktemp("venv")
    ok(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    ok(sys.executable, "-m", "pip", "--python", str(python), "install", "-q", str(client_wheel))
    yield python


def closure(requires: dict[str, list[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen and name in requires:
            seen.add(name)
            todo += requires[name]
    return seen


def test_installed_alone_it_brings_httpx_only(fresh_python):
    done = alone(fresh_python, INVENTORY)
    assert done.returncode == 0, done.stderr
    inventory = json.loads(done.stdout)
    requires = inventory["requires"]
    assert requires["tryton-ops-client"] == ["httpx"]
    # every distribution there is the client or something httpx needs, however deep
    assert set(requires) == {"tryton-ops-client"} | closure(requires, "httpx")
    for server_side in ("trytond", "tryton-ops", "psycopg", "redis", "gunicorn", "supervisor"):
        assert server_side not in requires
    # tryton_ops is a namespace package holding the client only
    assert inventory["namespace"]
    assert inventory["client"].startswith(str(fresh_python.parents[1]))


def test_the_rest_of_tryton_ops_is_not_there(fresh_python):
    for module in ("tryton_ops.cli", "tryton_ops.errors", "trytond"):
        done = alone(fresh_python, f"import {module}")
        assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr


@pytest.mark.parametrize("stack", ["sqlite"], indirect=True)
def test_a_real_call_from_the_fresh_venv(fresh_python, stack: TestStack):
    database = stack.database
    done = alone(fresh_python, CALL, URL=stack.url, DB=database.name, PASSWORD=database.password)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["refused"] == "TransportError"
    assert [row["login"] for row in result["rows"]] == ["admin"]


def test_client_sources_import_only_stdlib_httpx_and_the_client():
    """Every import, function-level ones too, so a lazy import cannot slip past the venv test."""
    allowed = set(sys.stdlib_module_names) | {"httpx"}
    for path in CLIENT_SOURCES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                inside = name == "tryton_ops.client" or name.startswith("tryton_ops.client.")
                assert inside or name.split(".")[0] in allowed, f"{path.name} imports {name}"


def test_the_full_distribution_requires_the_client_instead_of_shipping_it(tmp_path):
    """No file owned by both distributions: installing, upgrading or removing one never breaks
    the other; and the two versions move together."""
    project = tmp_path / "tryton-ops"  # a copy: setuptools leaves a build/ where it builds
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project)
    wheel = build_wheel(project, tmp_path / "wheel")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = archive.read(metadata).decode()
    assert "tryton_ops/__init__.py" in names
    assert not [n for n in names if n.startswith("tryton_ops/client/")]
    assert f"Requires-Dist: tryton-ops-client=={tryton_ops.__version__}\n" in requires
    client = tomllib.loads((ROOT / "client" / "pyproject.toml").read_text())
    assert client["project"]["version"] == tryton_ops.__version__
    assert (ROOT / "client" / "tryton_ops" / "client").resolve() == CLIENT_SOURCES
