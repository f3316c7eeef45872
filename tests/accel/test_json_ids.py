"""JSON-RPC ids JSON cannot carry (`1e400`, `NaN`): stock trytond echoes them as invalid JSON
(`Infinity`, `NaN`, from its own encoder); with `json_response` the answer is valid JSON and
the id is `null`, as JSON-RPC answers an id it could not read."""

from __future__ import annotations

import json

import httpx
import pytest

ODD_IDS = ("1e400", "-1e400", "NaN", "Infinity")


def strict_json(text: str):
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def version_call(stack, raw_id: str) -> httpx.Response:
    body = f'{{"id": {raw_id}, "method": "common.server.version", "params": []}}'
    return httpx.post(
        f"{stack.url}rpc/", content=body, headers={"Content-Type": "application/json"}
    )


@pytest.fixture
def stacks(make_trytond_db, tryton_stack):
    database = make_trytond_db("sqlite")
    stock = tryton_stack(database, workers=1)
    accel = tryton_stack(database, workers=1, accel={"json_response": True})
    return stock, accel


def test_odd_ids_answer_valid_json_with_json_response(stacks):
    stock, accel = stacks
    for raw_id in ODD_IDS:
        stocked = version_call(stock, raw_id)
        assert stocked.status_code == 200
        with pytest.raises(ValueError, match="not JSON"):  # trytond's own answer
            strict_json(stocked.text)
        answer = version_call(accel, raw_id)
        assert answer.status_code == 200
        result = json.loads(stocked.text)["result"]
        assert strict_json(answer.text) == {"id": None, "result": result}
    # an ordinary id is echoed as before, byte for byte
    assert version_call(accel, "7").content == version_call(stock, "7").content
