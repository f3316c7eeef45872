"""`tryton-ops tune`: candidates, the pool limit, the choice, and a tiny sweep that writes."""

from __future__ import annotations

import json

import pytest

from tests.capacity.conftest import cli
from tests.perf.helpers import write_toml
from tryton_ops.capacity.capacity_search import CapacityResult, LoadResult, Targets
from tryton_ops.capacity.tune import (
    Candidate,
    best,
    default_candidates,
    parse_candidates,
    split_by_pool,
    updated_toml,
)
from tryton_ops.config.loader import load_config
from tryton_ops.errors import UsageError


def _result(capacity: int, median: float) -> CapacityResult:
    step = LoadResult(capacity, 300.0, None, median, 0.0, 100, 10)
    return CapacityResult(capacity, ("read p95 900 ms > 500 ms",), None, Targets(), (step,), 64)


@pytest.mark.one_series
def test_candidates_are_parsed_and_bad_ones_refused():
    assert parse_candidates("gunicorn:4x1, uwsgi:2x2,gunicorn:4x1") == [
        Candidate("gunicorn", 4, 1),
        Candidate("uwsgi", 2, 2),
    ]
    assert Candidate("gunicorn", 2, 4).label == "gunicorn 2x4 (gthread)"
    for text, message in (
        ("gunicorn:4", "expected APP_SERVER:WORKERSxTHREADS"),
        ("waitress:2x1", "expected APP_SERVER"),
        ("gunicorn:0x1", "workers must be 1 to 256"),
        ("uwsgi:2x65", "threads 1 to 64"),
        (" , ", "no candidate given"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_candidates(text)
    grid = default_candidates(2, uwsgi=False)
    assert Candidate("gunicorn", 2, 1) in grid and Candidate("gunicorn", 2, 4) in grid
    assert all(c.app_server == "gunicorn" for c in grid)
    assert {c.app_server for c in default_candidates(2, uwsgi=True)} == {"gunicorn", "uwsgi"}


@pytest.mark.one_series
def test_candidates_that_do_not_fit_the_database_pool_are_skipped():
    listed = parse_candidates("gunicorn:4x2,gunicorn:16x8,uwsgi:30x1")
    fit, refused = split_by_pool(listed, 40)  # 30 left after the bus, cron and queue
    assert fit == [Candidate("gunicorn", 4, 2), Candidate("uwsgi", 30, 1)]
    assert [(c.workers, c.threads) for c, _ in refused] == [(16, 8)]
    assert "needs 128 database connections, PostgreSQL allows 40" in refused[0][1]
    assert split_by_pool(listed, None) == (listed, [])  # SQLite: no server-side limit


@pytest.mark.one_series
def test_best_is_the_most_users_then_the_fewest_threads_then_the_fastest():
    small, big, fast = (
        Candidate("gunicorn", 2, 1),
        Candidate("gunicorn", 4, 2),
        Candidate("uwsgi", 2, 1),
    )
    assert best([(small, _result(8, 40.0)), (big, _result(12, 40.0))])[0] == big
    assert best([(big, _result(8, 40.0)), (small, _result(8, 40.0))])[0] == small
    assert best([(small, _result(8, 40.0)), (fast, _result(8, 30.0))])[0] == fast
    with pytest.raises(UsageError, match="no candidate could be measured"):
        best([])


@pytest.mark.one_series
def test_the_toml_keeps_its_comments_and_only_server_keys_change(tmp_path):
    path = tmp_path / "tryton-ops.toml"
    path.write_text('# my deployment\nname = "shop"\n\n[server]\nworkers = 1  # was fine\n')
    old, new = updated_toml(path, Candidate("gunicorn", 5, 2))
    assert old == path.read_text()
    assert "# my deployment" in new and 'name = "shop"' in new
    assert "workers = 5" in new and "threads = 2" in new and 'app_server = "gunicorn"' in new
    _, fresh = updated_toml(tmp_path / "missing.toml", Candidate("uwsgi", 2, 2))
    assert "[server]" in fresh and 'app_server = "uwsgi"' in fresh


def _tune(config, stack_scenario, out, *extra: str, input: str | None = None):
    args = [
        "-c", str(config), "tune", "--scenario", str(stack_scenario), "--mix", "party_tasks",
        "--think", "const:0.3", "--users", "1", "--duration", "2s", "--warmup", "0",
        "--target-read-p95", "20000", "-o", str(out), *extra,
    ]  # fmt: skip
    return cli(*args, timeout=400, input=input)


def _mark_as_demo(postgres_server, database) -> None:
    """The mark `demo load` leaves: tune then needs no --yes to load this database."""
    import psycopg

    from tryton_ops.capacity.marker import MARK_TABLE

    with psycopg.connect(postgres_server.dsn(database.name), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {MARK_TABLE} (scale INTEGER)")
        conn.execute(f"INSERT INTO {MARK_TABLE} VALUES (1)")


@pytest.mark.one_series
def test_tiny_sweep_writes_a_config_that_loads(party_scenario, party_db, postgres_server, tmp_path):
    """Two candidates, 1 and 2 users for 2 s each: tune.json, the diff, the file written."""
    _, scenario = party_scenario
    _mark_as_demo(postgres_server, party_db)
    config = write_toml(party_db.config, tmp_path / "tryton-ops.toml")
    written = config.read_text().replace("workers = 1", "workers = 3")
    hand_made = "# tuned by hand before\n" + written
    config.write_text(hand_made)
    done = _tune(
        config, scenario, tmp_path / "out", "--candidates", "gunicorn:1x1,gunicorn:2x2",
        "--max-users", "2", "--yes",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "tune.json").read_text())
    assert [c["label"] for c in report["candidates"]] == [
        "gunicorn 1x1 (sync)",
        "gunicorn 2x2 (gthread)",
    ]
    for row in report["candidates"]:
        assert row["capacity_users"] == 2 and row["reached_max_users"]
        assert [s["users"] for s in row["steps"]] == [1, 2]
        assert all(s["error_rate"] == 0 and s["steps"] > 0 for s in row["steps"])
    assert report["chosen"]["label"] == "gunicorn 1x1 (sync)"  # a tie: the fewest threads
    assert "-workers = 3\n+workers = 1" in done.stdout and "wrote" in done.stdout
    loaded = load_config(config)  # what `up` reads
    assert (loaded.settings.server.workers, loaded.settings.server.threads) == (1, 1)
    assert config.read_text().startswith("# tuned by hand before")
    # without --yes it asks; "no" leaves the file as it was
    config.write_text(hand_made)
    asked = _tune(
        config, scenario, tmp_path / "out2", "--candidates", "gunicorn:1x1", "--max-users", "1",
        input="n\n",
    )  # fmt: skip
    assert "write " in asked.stdout and "-workers = 3" in asked.stdout, asked.stderr[-2000:]
    assert "workers = 3" in config.read_text()


def test_bad_input_is_refused_before_any_load(party_db, tmp_path):
    config = write_toml(party_db.config, tmp_path / "tryton-ops.toml")
    original = config.read_text()
    for args, message in (
        (["--candidates", "gunicorn:4"], "expected APP_SERVER:WORKERSxTHREADS"),
        (["--candidates", "gunicorn:2x1", "--growth", "0.5"], "--growth must be above 1"),
        (["--candidates", "gunicorn:2x1", "--duration", "soon"], "invalid duration"),
        (["--candidates", "gunicorn:2x1", "--mix", "nope"], "unknown scenario(s) nope"),
        (["--candidates", "gunicorn:2x1"], "is not a demo one"),  # a party database, no --yes
    ):
        out = tmp_path / "out"
        done = cli("-c", str(config), "tune", "-o", str(out), *args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr and not out.exists()
    assert config.read_text() == original
    done = cli("tune", "--candidates", "gunicorn:2x1", "--yes")  # no config file to write
    assert done.returncode == 2 and "give it with -c FILE" in done.stderr
