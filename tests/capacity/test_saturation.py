"""Saturation: the throughput figure the benchmarks compare settings and host counts by."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.capacity.conftest import cli, target_args
from tryton_ops.capacity.saturation import throughput

# Locust patches the process that imports it: the plan is built in a child
PLAN = """
import json
from tryton_ops.capacity.loadtest import LoadRun
from tryton_ops.capacity.plan import ThinkTime
from tryton_ops.capacity.saturation import saturating
from tryton_ops.capacity.users import Workload
work = Workload("db", "admin", "pw", (), ThinkTime.parse("exp:5"))
plan = LoadRun("http://x", work, users=2, spawn_rate=1, duration=60, warmup=15)
done = saturating(plan, workers=5, duration=40)
print(json.dumps([done.users, done.spawn_rate, done.duration, done.warmup, str(done.workload.think),
                  str(plan.workload.think)]))
"""


@pytest.mark.one_series
def test_saturating_gives_every_worker_a_queue_and_no_think_time():
    done = subprocess.run([sys.executable, "-c", PLAN], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    users, spawn_rate, duration, warmup, think, original = json.loads(done.stdout)
    assert (users, spawn_rate, duration, warmup) == (15, 15, 40, 15)
    assert (think, original) == ("const:0", "exp:5")  # the plan given is left alone


@pytest.mark.one_series
def test_throughput_of_a_real_saturated_run(party_scenario, party_db, tmp_path):
    stack, scenario = party_scenario
    out = tmp_path / "out"
    done = cli(
        "loadtest", "run", *target_args(stack, party_db), "--scenario", str(scenario),
        "--mix", "party_tasks", "--users", "6", "--spawn-rate", "6", "--duration", "5s",
        "--think", "const:0", "--yes", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    found = throughput(results)
    totals, cpu = results["totals"], results["cpu"]
    assert found["users"] == 6 and found["errors"] == 0
    assert found["calls_per_s"] == totals["rpc_per_s"] > 0
    assert found["steps_per_s"] == round(totals["steps"] / results["run"]["duration_s"], 2) > 0
    # CPU per call: percent of a core over calls per second, in ms of one core
    app = cpu["app"]["mean_pct"]
    assert app > 0
    assert found["cpu_ms_per_call"]["app"] == round(app * 10 / totals["rpc_per_s"], 2)
    assert set(found["cpu_ms_per_call"]) == set(cpu) >= {"app", "generator"}
