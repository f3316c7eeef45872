"""`loadtest run --find-capacity`: the decision logic on real figures, and a tiny real sweep."""

from __future__ import annotations

import json

import pytest

from tests.capacity.conftest import cli, target_args
from tryton_ops.capacity.capacity_search import (
    CapacityResult,
    LoadResult,
    Sweep,
    Targets,
    find_capacity,
    knee,
    median_measurement,
    next_users,
    text_summary,
)
from tryton_ops.errors import UsageError

# Steps measured on this machine (party_lookup + product_stock + login_menu mix, SQLite,
# 2 sync workers, think exp:2): users -> (read p95, save p95, RPC median, error rate).
MEASURED = {
    1: (180.0, None, 18.0, 0.0),
    2: (210.0, None, 19.0, 0.0),
    3: (260.0, None, 22.0, 0.0),
    4: (330.0, None, 30.0, 0.0),
    6: (460.0, None, 39.0, 0.0),
    7: (540.0, None, 45.0, 0.0),
    8: (610.0, None, 52.0, 0.0),
    16: (2400.0, None, 140.0, 0.004),
}


def measured(users: int, save: float | None = None) -> LoadResult:
    read, _, median, errors = MEASURED[users]
    return LoadResult(
        users=users,
        read_p95_ms=read,
        save_p95_ms=save,
        median_ms=median,
        error_rate=errors,
        calls=100 * users,
        steps=10 * users,
    )


class MeasuredSteps:
    """run_at over the measured steps, remembering the order it was asked for."""

    def __init__(self, **save_p95):
        self.asked: list[int] = []
        self.save_p95 = save_p95

    def __call__(self, users: int) -> LoadResult:
        self.asked.append(users)
        return measured(users, self.save_p95.get(str(users)))


pytestmark = pytest.mark.one_series


def test_grows_then_bisects_to_the_last_step_meeting_the_targets():
    sweep = MeasuredSteps()
    found = find_capacity(sweep, Targets(), start=1, growth=2, max_users=64, refine=2)
    assert sweep.asked == [1, 2, 4, 8, 6, 7]  # 8 breaks read p95; bisect: 6 ok, 7 broken
    assert found.capacity == 6
    assert found.limited_by == ("read p95 540 ms > 500 ms",)  # the smallest broken step's
    assert not found.reached_max
    assert found.knee_users == 6  # median 39 ms, over twice the 18 ms of 1 user (4: 30 ms)
    assert [s["users"] for s in found.to_json()["steps"]] == [1, 2, 4, 6, 7, 8]


def test_knee_is_the_first_step_whose_median_doubled():
    assert knee([measured(1), measured(2), measured(4), measured(6)]) == 6
    assert knee([measured(1), measured(2)]) is None
    assert knee([]) is None


def test_saving_steps_and_errors_are_targets_too():
    slow_save = MeasuredSteps(**{"4": 1800.0})
    found = find_capacity(slow_save, Targets(), start=1, growth=2, max_users=64, refine=2)
    assert found.capacity == 3 and found.limited_by == ("save p95 1800 ms > 1500 ms",)
    errors = find_capacity(
        MeasuredSteps(), Targets(read_p95_ms=5000), start=8, max_users=64, refine=0
    )
    assert errors.capacity == 8
    assert errors.limited_by == ("errors 0.40% > 0.10%",)


def test_first_step_broken_gives_zero_and_max_reached_says_at_least():
    strict = find_capacity(MeasuredSteps(), Targets(read_p95_ms=100), start=1, max_users=8)
    assert strict.capacity == 0 and strict.limited_by == ("read p95 180 ms > 100 ms",)
    assert "capacity: 0 users" in text_summary(strict, "exp:2")
    roomy = find_capacity(
        MeasuredSteps(), Targets(read_p95_ms=1000), start=1, growth=2, max_users=6
    )
    assert roomy.capacity == 6 and roomy.reached_max
    assert [s.users for s in roomy.steps] == [1, 2, 4, 6]  # the last step is max_users itself
    assert "at least 6 users" in text_summary(roomy, "exp:2")


def test_bad_sweeps_and_targets_are_refused():
    for kwargs, message in (
        ({"start": 0}, "at least 1 user"),
        ({"growth": 1.0}, "--growth must be above 1"),
        ({"start": 10, "max_users": 5}, "below the first step"),
        ({"refine": -1}, "--refine must not be negative"),
    ):
        with pytest.raises(UsageError, match=message):
            find_capacity(MeasuredSteps(), **kwargs)
    with pytest.raises(UsageError, match="positive"):
        Targets(read_p95_ms=0)
    with pytest.raises(UsageError, match="error target"):
        Targets(error_rate=1.5)
    assert next_users(1, 1.5) == 2 and next_users(10, 1.5) == 15


def test_to_json_names_every_step_verdict():
    found = find_capacity(MeasuredSteps(), Targets(), start=4, growth=2, max_users=8, refine=0)
    data = found.to_json()
    assert isinstance(found, CapacityResult)
    assert data["capacity_users"] == 4 and data["targets"]["read_p95_ms"] == 500
    assert [(s["users"], s["passed"]) for s in data["steps"]] == [(4, True), (8, False)]
    assert data["steps"][1]["broken"] == ["read p95 610 ms > 500 ms"]
    json.dumps(data)


def test_tiny_sweep_against_a_real_stack(party_scenario, party_db, tmp_path):
    """1, 2, 4 users for 3 s each: a capacity, each step's results, the sweep's JSON."""
    stack, scenario = party_scenario
    out = tmp_path / "out"
    done = cli(
        "loadtest", "run", *target_args(stack, party_db), "--scenario", str(scenario),
        "--mix", "party_tasks", "--think", "const:0.3", "--yes", "--find-capacity",
        "--users", "1", "--max-users", "4", "--duration", "3s", "--warmup", "1s",
        "--spawn-rate", "10", "--target-read-p95", "20000", "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    data = json.loads((out / "capacity.json").read_text())
    assert [s["users"] for s in data["steps"]] == [1, 2, 4]
    assert data["capacity_users"] == 4 and data["reached_max_users"]
    for step in data["steps"]:
        assert step["passed"] and step["error_rate"] == 0 and step["steps"] > 0
        assert step["read_p95_ms"] > 0 and step["save_p95_ms"] > 0 and step["median_ms"] > 0
        assert step["cpu_mean_pct"]["app"] > 0
    step4 = json.loads((out / "steps" / "users-0004.json").read_text())
    assert step4["totals"]["peak_users"] == 4  # measured after all four had started
    assert min(p["users"] for p in step4["timeline"]) == 4
    assert "capacity: at least 4 users" in done.stdout
    # a target no step can meet: capacity 0, the broken target named
    strict = cli(
        "loadtest", "run", *target_args(stack, party_db), "--scenario", str(scenario),
        "--mix", "party_tasks", "--think", "const:0.3", "--yes", "--find-capacity",
        "--users", "1", "--duration", "2s", "--warmup", "0", "--target-read-p95", "0.01",
        "--json", "-o", str(tmp_path / "strict"),
    )  # fmt: skip
    assert strict.returncode == 0, strict.stderr[-3000:]
    result = json.loads(strict.stdout)
    assert result["capacity_users"] == 0 and result["limited_by"][0].startswith("read p95")


def test_bad_find_capacity_options_are_usage_errors(tmp_path):
    for args, message in (
        (["--growth", "1"], "--growth must be above 1"),
        (["--users", "20", "--max-users", "10"], "below the first step"),
        (["--target-errors", "100"], "error target"),
        (["--target-read-p95", "0"], "positive"),
        (["--web", "127.0.0.1:8089"], "drop --web"),
        (["--warmup", "soon"], "invalid duration"),
        (["--repeats", "0"], "--repeats must be at least 1"),
        (["--repeats", "3", "--confirm"], "with --repeats, drop it"),
    ):
        out = tmp_path / "out"
        done = cli(
            "loadtest", "run", "--url", "http://127.0.0.1:9", "--yes", "--find-capacity",
            "-o", str(out), *args,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert not out.exists()


def test_confirm_measures_a_broken_step_again_before_stopping():
    """A burst of someone else's load breaks 4 users once: confirmed, the sweep goes on."""
    burst = LoadResult(4, 2600.0, None, 90.0, 0.0, 400, 40)
    answers = {4: [burst, measured(4)]}

    def run_at(users: int) -> LoadResult:
        queue = answers.get(users)
        return queue.pop(0) if queue else measured(users)

    found = Sweep(start=1, growth=2, max_users=64, refine=0, confirm=True).run(run_at)
    assert [s.users for s in found.steps] == [1, 2, 4, 4, 8, 8]  # 8 broken twice: stop
    assert found.capacity == 4 and found.limited_by == ("read p95 610 ms > 500 ms",)
    plain = Sweep(start=1, growth=2, max_users=64, refine=0).run(
        lambda users: burst if users == 4 else measured(users)
    )
    assert plain.capacity == 2  # without confirm the burst ends the sweep


def test_repeats_judge_each_step_on_its_median_measurement():
    """Three measurements per step: one slow outlier does not break 4 users, one lucky
    measurement does not save 8; the step stands for a real measurement, the middle one."""
    burst = LoadResult(4, 2600.0, None, 90.0, 0.0, 400, 40)
    lucky = LoadResult(8, 300.0, None, 30.0, 0.0, 400, 40)
    answers = {4: [burst, measured(4), measured(4)], 8: [measured(8), lucky, measured(8)]}

    def run_at(users: int) -> LoadResult:
        queue = answers.get(users)
        return queue.pop(0) if queue else measured(users)

    found = Sweep(start=1, growth=2, max_users=64, refine=0, repeats=3).run(run_at)
    assert [s.users for s in found.steps] == [1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8]
    assert found.capacity == 4 and found.limited_by == ("read p95 610 ms > 500 ms",)
    assert Sweep(repeats=3).to_json()["repeats"] == 3
    # a tie is broken: two measurements, one each way
    targets = Targets()
    assert targets.broken(median_measurement([lucky, measured(8)], targets))
    assert median_measurement([burst, measured(4), measured(4)], targets).read_p95_ms == 330.0


def test_the_same_measurements_judged_under_other_targets():
    """A stricter target re-judges each step on its median measurement, as the finder does:
    one outlier among three does not end it, two do."""
    slow = LoadResult(2, 900.0, None, 60.0, 0.0, 200, 20)
    slow4 = LoadResult(4, 900.0, None, 60.0, 0.0, 400, 40)
    steps = [measured(1), slow, measured(2), measured(2), measured(4), slow4, measured(8)]
    steps += [measured(4), measured(8), measured(8)]
    found = CapacityResult(8, (), None, Targets(read_p95_ms=2000), tuple(steps), 8)
    assert found.under(Targets(read_p95_ms=2000)) == 8
    assert found.under(Targets(read_p95_ms=500)) == 4  # 8: 610 ms in every measurement
    assert found.under(Targets(read_p95_ms=250)) == 2  # 4: 330 ms
    twice = CapacityResult(8, (), None, Targets(read_p95_ms=2000), (measured(1), slow, slow), 8)
    assert twice.under(Targets(read_p95_ms=500)) == 1
    assert found.under(Targets(read_p95_ms=100)) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeats": 0}, "--repeats must be at least 1"),
        ({"repeats": 3, "confirm": True}, "drop it"),
    ],
)
def test_bad_repeats_are_usage_errors(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Sweep(**kwargs)
