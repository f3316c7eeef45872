"""Simulated users keep trytond's cacheable answers for their session, as sao does."""

from __future__ import annotations

import json

import pytest

from tests.capacity.conftest import cli, target_args
from tryton_ops.capacity.client_cache import ClientCache, cache_seconds

VIEW = "model.party.party.fields_view_get"
LIST = "model.party.party.search_read"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.one_series
def test_an_answer_is_kept_per_method_and_params_until_it_expires():
    clock = Clock()
    kept = ClientCache(clock)
    context = {"language": "en", "company": 1}
    kept.put(VIEW, [None, "tree", context], 300, {"arch": "<tree/>"})
    found, answer = kept.get(VIEW, [None, "tree", {"company": 1, "language": "en"}])
    assert found and answer == {"arch": "<tree/>"}
    answer["arch"] = "changed by the caller"  # a copy: the kept answer stays as it came
    assert kept.get(VIEW, [None, "tree", context]) == (True, {"arch": "<tree/>"})
    assert kept.get(VIEW, [None, "form", context]) == (False, None)
    assert kept.get("model.sale.sale.fields_view_get", [None, "tree", context]) == (False, None)
    assert kept.hits == 2
    clock.now += 300
    assert kept.get(VIEW, [None, "tree", context]) == (False, None)  # expired


@pytest.mark.one_series
def test_what_the_header_says_to_keep():
    assert [cache_seconds(v) for v in (None, "", "x", "-5", "0", "86400")] == [0, 0, 0, 0, 0, 86400]
    kept = ClientCache()
    kept.put(VIEW, [], 0, "not cacheable")
    assert kept.get(VIEW, []) == (False, None)


def _views_scenario(path):
    """One step as sao sends it when opening a list: the view (cacheable), then the rows."""
    context = {"language": "en"}
    path.write_text(
        json.dumps(
            {
                "name": "party_list",
                "recorded": {"server": "trytond", "client": "test"},
                "steps": [
                    {
                        "name": "open list",
                        "kind": "read",
                        "calls": [
                            {"method": VIEW, "params": [None, "tree", context]},
                            {"method": LIST, "params": [[], 0, 5, None, ["name"], context]},
                        ],
                    }
                ],
            }
        )
    )
    return path


def _run(stack, database, scenario, out, *extra):
    done = cli(
        "loadtest", "run", *target_args(stack, database), "--scenario", str(scenario),
        "--mix", "party_list", "--users", "1", "--spawn-rate", "1", "--duration", "4s",
        "--think", "const:0.1", "--yes", "-o", str(out), *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["totals"]["rpc_errors"] == 0, results["errors"]
    counts = {m["name"]: m["count"] for m in results["methods"]}
    return results, counts


def test_a_user_asks_for_a_view_once_per_session(party_db, tryton_stack, tmp_path):
    stack = tryton_stack(party_db, workers=1)
    scenario = _views_scenario(tmp_path / "party_list.json")

    results, counts = _run(stack, party_db, scenario, tmp_path / "kept")
    assert results["run"]["client_cache"] is True
    assert counts[VIEW] == 1 and counts[LIST] >= 5, counts
    hits = results["totals"]["client_cache_hits"]
    assert counts[LIST] - 1 <= hits <= counts[LIST], (hits, counts)

    results, counts = _run(stack, party_db, scenario, tmp_path / "cold", "--no-client-cache")
    assert results["run"]["client_cache"] is False
    assert results["totals"]["client_cache_hits"] == 0
    assert counts[VIEW] >= 5 and abs(counts[VIEW] - counts[LIST]) <= 1, counts
