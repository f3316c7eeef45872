"""Scale-out topology: app hosts in namespaces, each held to a CPU quota, behind nginx.

A short version of `benchmarks/scale_out.py`: two hosts of a quarter core each, a few
simulated users for a few seconds through nginx (`loadtest run`), then: both hosts served,
no error, and each host's CPU stayed within its quota while the kernel throttled it (the
users ask for more than a quarter core). Then everything the topology made is gone.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.capacity.conftest import cli
from tryton_ops.capacity.cgroups import PREFIX, CgroupError, CpuGroups, Layout, detect
from tryton_ops.client import Connection
from tryton_ops.testing.netns import copy_database, ip
from tryton_ops.testing.scale_out import ScaleOut, ScaleOutPlan

pytestmark = pytest.mark.one_series

QUOTA = 0.25
SCENARIO = {
    "name": "party_reads",
    "description": "list parties, open one (written for this test)",
    "recorded": {"client": "test", "server": "trytond", "date": "2026-12-02"},
    "steps": [
        {
            "name": "list",
            "kind": "read",
            "calls": [
                {
                    "method": "model.party.party.search_read",
                    "params": [[], 0, 20, None, ["name", "code"], {}],
                    "as": "r1",
                }
            ],
        },
        {
            "name": "open",
            "kind": "read",
            "calls": [
                {
                    "method": "model.party.party.read",
                    "params": [["${r1.0.id}"], ["name", "code", "addresses"], {}],
                }
            ],
        },
    ],
}


@pytest.fixture
def scale_out(make_trytond_db, postgres_server, tmp_path):
    source = make_trytond_db("postgresql")
    topology = ScaleOut(
        source.config, tmp_path / "scale", ScaleOutPlan(hosts=2, cores_per_host=QUOTA)
    )
    try:
        topology.start()
        copy_database(source, postgres_server, topology.postgres)
        yield topology
    finally:
        topology.close()


def _read_parties(url: str, database: str, password_file: Path) -> None:
    with Connection(url, database) as conn:
        conn.login("admin", password_file.read_text().strip())
        rows = conn.call("model.party.party.search_read", [], 0, 20, None, ["name", "code"], {})
        conn.call("model.party.party.read", [rows[0]["id"]], ["name", "code", "addresses"], {})


def _connections(topology: ScaleOut, database: str, wait: float = 10) -> int:
    """Backends of `database` once the stopped workers' connections are gone (their backends
    exit a moment after the workers do)."""
    deadline = time.monotonic() + wait
    while True:
        with psycopg.connect(topology.postgres.dsn()) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchone()
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.2)


def test_two_hosts_under_quota_serve_through_nginx_without_errors(scale_out, tmp_path):
    url = scale_out.serve(2)
    database = scale_out.database
    password_file = scale_out.config.settings.database.admin_password_file
    with Connection(url, database) as conn:
        conn.login("admin", password_file.read_text().strip())
        names = [{"name": f"Scale party {i}"} for i in range(20)]
        conn.call("model.party.party.create", names, {})
    # every worker's first party calls load views and access rules: minutes under a quarter
    # core on a busy machine, so warmed without the quota (what is measured is the held run)
    scale_out.hold(False)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: _read_parties(url, database, password_file), range(16)))
    scale_out.hold(True)
    groups = scale_out.groups()
    assert {g.quota() for name, g in groups.items() if name.startswith("h")} == {QUOTA}
    assert groups["postgresql"].quota() is None  # accounted, not held
    scenario = tmp_path / "party_reads.json"
    scenario.write_text(json.dumps(SCENARIO))

    offset = scale_out.log_offset()
    before, throttled_before = scale_out.usage_s(), scale_out.throttling()
    started = time.monotonic()
    done = cli(
        "loadtest", "run", "--url", url, "--database", database, "--password-file",
        str(password_file), "--scenario", str(scenario), "--mix", "party_reads",
        "--users", "6", "--spawn-rate", "6", "--duration", "5s", "--think", "const:0",
        "--yes", "-o", str(tmp_path / "out"),
    )  # fmt: skip
    elapsed = time.monotonic() - started
    after, throttled_after = scale_out.usage_s(), scale_out.throttling()
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    totals = json.loads((tmp_path / "out" / "results.json").read_text())["totals"]
    assert totals["rpc_calls"] > 20 and totals["rpc_errors"] == 0, totals
    assert totals["step_errors"] == 0
    served = scale_out.served(offset)
    assert set(served) == {"h1", "h2"}, served
    assert min(served.values()) >= 10, served
    for host in ("h1", "h2"):
        used = after[host] - before[host]
        # the quota is a ceiling over every 100 ms period: over the whole run a host used at
        # most a quarter core (+ one period of slack), and it wanted more: it was throttled
        assert 0 < used <= QUOTA * elapsed + 0.1, (host, used, elapsed)
        assert throttled_after[host].throttled > throttled_before[host].throttled, host
    assert after["postgresql"] > before["postgresql"]
    assert after["nginx"] > before["nginx"]

    # one host: nginx balances over it alone, the other is stopped
    url = scale_out.serve(1)
    offset = scale_out.log_offset()
    with Connection(url, database) as conn:
        for _ in range(5):
            conn.call("common.server.version")
    assert scale_out.served(offset) == {"h1": 5}
    assert set(scale_out.groups()) == {"h1", "postgresql", "redis", "nginx"}
    with pytest.raises(ValueError, match="1 to 2 hosts, not 3"):
        scale_out.serve(3)

    # stop_serving(): no host holds a connection (the benchmark restores the database between
    # measurements), and the topology serves again afterwards
    scale_out.stop_serving()
    assert (scale_out.serving, scale_out.apps, scale_out.front) == (0, {}, None)
    assert _connections(scale_out, database) == 0
    url = scale_out.serve(1)
    with Connection(url, database) as conn:
        assert conn.call("common.server.version")

    # close() leaves no namespace, link or cgroup (and may run twice)
    tag = scale_out.network.tag
    cgroup_dirs = [g.cpu_dir for g in scale_out.cgroups.groups.values()]
    scale_out.close()
    scale_out.close()
    assert tag not in ip("netns", "list").stdout
    assert tag not in ip("-o", "link", "show").stdout
    assert not any(d.exists() for d in cgroup_dirs)


def test_cgroup_version_is_detected_from_the_mount_table(tmp_path):
    v2 = tmp_path / "unified"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mounts = f"cgroup2 {v2} cgroup2 rw,nosuid 0 0\n"
    assert detect(mounts) == Layout(2, v2, v2)
    # this machine's kind: cpu and cpuacct mounted apart, a cgroup2 mount without cpu
    (v2 / "cgroup.controllers").write_text("hugetlb\n")
    v1 = (
        "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
        "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n"
    )
    assert detect(mounts + v1) == Layout(
        1, Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpuacct")
    )
    together = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
    both = Path("/sys/fs/cgroup/cpu,cpuacct")
    assert detect(together) == Layout(1, both, both)
    with pytest.raises(CgroupError, match="no cgroup CPU controller"):
        detect("proc /proc proc rw 0 0\n" + mounts)


def test_bad_quotas_and_names_are_refused():
    with CpuGroups() as groups:
        with pytest.raises(CgroupError, match="must be positive"):
            groups.group("zero", 0)
        with pytest.raises(CgroupError, match="must be positive"):
            groups.group("unweighed", 0.5, weight=0)
        with pytest.raises(CgroupError, match="letters, digits"):
            groups.group("../escape")
        group = groups.group("fine", 0.5)
        assert group.quota() == 0.5
        group.set_quota(None)
        assert group.quota() is None
    assert groups.tag.startswith(PREFIX)
    assert not (groups.layout.cpu_root / groups.tag).exists()
    with pytest.raises(ValueError, match="cores_per_host must be positive"):
        ScaleOutPlan(cores_per_host=0)
