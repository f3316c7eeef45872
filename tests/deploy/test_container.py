"""The rendered Containerfile builds an image that runs the deployment (podman, rootful).

No container registry is reachable, so the base image is a Debian rootfs made here with
debootstrap (python3 + python3-venv) from the machine's own apt mirror and `podman import`ed.
The rootfs tarball is cached under /var/tmp/tryton-ops-rootfs/<ROOTFS_VERSION>/ (or
$TRYTON_OPS_ROOTFS_CACHE), so only the first run pays for debootstrap.

No package index is reachable from inside a build either: the wheels of this checkout and of
its dependencies are built on the host into the build context, and the Containerfile is
rendered with `deploy render --wheels wheels` (installs from them with `--no-index`).

podman runs with `--runtime runc`, the cgroupfs cgroup manager and no default ulimits, from a
containers.conf written for the test (CONTAINERS_CONF), and host networking.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tryton_ops.client import Connection, RPCError
from tryton_ops.testing.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.one_series, pytest.mark.timeout(900)]

ROOTFS_VERSION = "bookworm-minbase-python3-v1"
SUITE = "bookworm"
CACHE = Path(os.environ.get("TRYTON_OPS_ROOTFS_CACHE", "/var/tmp/tryton-ops-rootfs"))
BASE_IMAGE = f"localhost/tryton-ops-base:{ROOTFS_VERSION}"
REPO = Path(__file__).resolve().parents[2]
TRYTON_OPS = str(Path(sys.executable).with_name("tryton-ops"))

CONTAINERS_CONF = """\
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def run(*argv: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if proc.returncode:
        raise AssertionError(
            f"{' '.join(argv[:4])}... exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-3000:]}"
        )
    return proc


def debian_mirror() -> str:
    """The Debian archive this machine's apt uses (deb822 `.sources` or sources.list)."""
    texts = [p.read_text() for p in sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))]
    for text in texts:
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri
    with contextlib.suppress(OSError):
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[0] == "deb" and parts[1].rstrip("/").endswith("/debian"):
                return parts[1]
    raise AssertionError("no Debian mirror in the apt sources of this machine")


def rootfs_tarball() -> Path:
    """The cached base rootfs, built once per ROOTFS_VERSION (a lock guards parallel runs)."""
    folder = CACHE / ROOTFS_VERSION
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / "rootfs.tar"
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if tarball.exists():
            return tarball
        target = folder / "rootfs.tmp"
        shutil.rmtree(target, ignore_errors=True)
        run(
            "debootstrap", "--variant=minbase", "--include=python3,python3-venv",
            SUITE, str(target), debian_mirror(),
            timeout=900,
        )  # fmt: skip
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (target / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = folder / "rootfs.tar.tmp"
        with tarfile.open(partial, "w") as tar:
            tar.add(target, arcname=".")
        partial.replace(tarball)
        shutil.rmtree(target, ignore_errors=True)
    return tarball


@pytest.fixture
def podman(tmp_path) -> Iterator[dict[str, str]]:
    """Environment for podman commands, with the base image imported."""
    conf = tmp_path / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    tarball = rootfs_tarball()
    if subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=env).returncode:
        run("podman", "import", str(tarball), BASE_IMAGE, env=env)
    yield env


def build_context(path: Path, port: int) -> Path:
    """tryton-ops.toml, the rendered files and a wheelhouse of this checkout."""
    path.mkdir()
    toml = path / "tryton-ops.toml"
    toml.write_text(
        "\n".join(
            [
                'name = "ctest"',
                "[database]",
                'uri = "sqlite://"',
                'name = "ctest"',
                'modules = ["party"]',
                "demo_records = 5",
                "[server]",
                f'listen = "127.0.0.1:{port}"',
                "workers = 2",
                "[front]",
                'enabled = "off"',
                f'listen = "127.0.0.1:{free_port()}"',
            ]
        )
        + "\n"
    )
    from importlib.metadata import version

    series = ".".join(version("trytond").split(".")[:2])
    run(
        sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(path / "wheels"),
        str(REPO), str(REPO / "client"), f"trytond~={series}.0", f"trytond_party~={series}.0",
        # redis needs it on the image's Python (3.11.2) but not here: markers differ
        "async-timeout>=4.0.3",
    )  # fmt: skip
    run(
        TRYTON_OPS, "-c", str(toml), "deploy", "render", "--out", str(path),
        "--base-image", BASE_IMAGE, "--wheels", "wheels",
        env={**os.environ, "TRYTON_OPS_PATHS__RUN": str(path.parent / "render-run")},
    )  # fmt: skip
    return path


def wait_answers(url: str, container: str, env: dict, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    with Connection(url, timeout=5) as conn:
        while time.monotonic() < deadline:
            try:
                conn.call("common.server.version")
                return
            except RPCError:
                state = subprocess.run(
                    ["podman", "inspect", "-f", "{{.State.Status}}", container],
                    capture_output=True, text=True, env=env,
                ).stdout.strip()  # fmt: skip
                if state not in ("running", "created", "configured"):
                    logs = subprocess.run(
                        ["podman", "logs", container], capture_output=True, text=True, env=env
                    )
                    raise AssertionError(
                        f"container {state}:\n{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}"
                    ) from None
                time.sleep(1)
    raise AssertionError(f"the container did not answer within {timeout} s")


def wait_log(container: str, text: str, env: dict, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = subprocess.run(
            ["podman", "logs", container], capture_output=True, text=True, env=env
        )
        if text in logs.stdout:
            time.sleep(0.5)  # the handler is installed right after the line is printed
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in the container's log within {timeout} s")


def test_rendered_containerfile_builds_and_serves(podman, tmp_path):
    env = podman
    port = free_port()
    context = build_context(tmp_path / "ctx", port)
    containerfile = (context / "Containerfile").read_text()
    assert f"FROM {BASE_IMAGE}" in containerfile and "--no-index" in containerfile

    tag = uuid.uuid4().hex[:10]
    image, name = f"localhost/tryton-ops-test:{tag}", f"tryton-ops-test-{tag}"
    data = tmp_path / "data"
    data.mkdir()
    try:
        run(
            "podman", "build", "--network", "none", "--layers=false", "--force-rm", "-t", image,
            "-f", str(context / "Containerfile"), str(context),
            env=env, timeout=900,
        )  # fmt: skip
        labels = json.loads(run("podman", "image", "inspect", image, env=env).stdout)
        assert labels[0]["Config"]["Cmd"] == ["/opt/tryton/bin/tryton-ops", "up"]
        run(
            "podman", "run", "-d", "--name", name, "--network", "host",
            "-e", f"TRYTON_OPS_SERVER__LISTEN=127.0.0.1:{port}",
            "-v", f"{data}:/var/lib/tryton",
            image,
            env=env,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/"
        wait_answers(url, name, env)
        # `up` handles SIGTERM once it has said so; as PID 1 it ignores one sent earlier
        wait_log(name, "Ctrl-C stops it.", env)
        password = (data / "admin-password").read_text().strip()
        with Connection(url, "ctest") as conn:
            conn.login("admin", password)
            parties = conn.call("model.party.party.search_read", [], 0, None, None, ["name"], {})
            assert len(parties) == 5  # the demo records `up` created in the container
            (new,) = conn.call("model.party.party.create", [{"name": "from the host"}], {})
            assert conn.call("model.party.party.read", [new], ["name"], {})[0]["name"] == (
                "from the host"
            )
        with pytest.raises(RPCError):  # a wrong password is refused by the containerized app
            Connection(url, "ctest").login("admin", "wrong")

        # the app runs under `tryton-ops up` in the container: it stops cleanly on SIGTERM
        run("podman", "stop", "-t", "60", name, env=env, timeout=120)
        state = json.loads(run("podman", "inspect", name, env=env).stdout)[0]["State"]
        assert state["ExitCode"] == 0, state
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, env=env)
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, env=env)
