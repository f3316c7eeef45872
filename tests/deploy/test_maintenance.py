"""The maintenance flag: the WSGI check of the app workers (nginx's is exercised through a
real nginx by tests/lifecycle/test_safe_update.py::test_update_under_load_fails_no_call)."""

from __future__ import annotations

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tryton_ops.deploy import maintenance

pytestmark = pytest.mark.one_series  # the same on every trytond series


def app(environ, start_response):
    return Response("served")(environ, start_response)


@pytest.mark.parametrize(
    ("path", "name"),
    [("/shop/", "shop"), ("/shop/rpc", "shop"), ("/", ""), ("/../x", ""), ("/a%2Fb/", ""),
     ("/caf%C3%A9/", "café")],
)  # fmt: skip
def test_database_of(path, name):
    assert maintenance.database_of(path) == name


def test_flag_answers_503_for_its_database_only(tmp_path):
    client = Client(maintenance.MaintenanceMiddleware(app, str(maintenance.flag_dir(tmp_path))))
    assert client.post("/shop/", json={}).status_code == 200
    maintenance.enter(tmp_path, "shop", "db update")
    answer = client.post("/shop/", json={})
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
    assert b"maintenance" in answer.data
    assert client.post("/other/", json={}).get_data(as_text=True) == "served"
    assert client.get("/").status_code == 200  # no database named: static files, version
    assert set(maintenance.active(tmp_path)) == {"shop"}
    assert maintenance.active(tmp_path)["shop"]["reason"] == "db update"
    assert maintenance.leave(tmp_path, "shop") and not maintenance.leave(tmp_path, "shop")
    assert client.post("/shop/", json={}).status_code == 200
    assert maintenance.active(tmp_path) == {}
