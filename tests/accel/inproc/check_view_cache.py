"""Run in a trytond environment (TRYTOND_CONFIG, TRYTOND_DATABASE_NAMES): call the party form
view 3 times through the WSGI app and print the misses of trytond's fields_view_get cache for
the party form key. argv: admin password."""

import base64
import json
import os
import sys

from trytond.application import app  # applies the accelerators of TRYTOND_CONFIG
from trytond.cache import MemoryCache
from werkzeug.test import Client

from tryton_ops.accel import runtime

db = os.environ["TRYTOND_DATABASE_NAMES"]
client = Client(app)


def rpc(method, params, auth=None):
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = auth
    body = json.dumps({"id": 1, "method": method, "params": params})
    return json.loads(client.post(f"/{db}/rpc/", data=body, headers=headers).get_data())


uid, key = rpc("common.db.login", ["admin", {"password": sys.argv[1]}, "en"])["result"][:2]
auth = "Session " + base64.b64encode(f"admin:{uid}:{key}".encode()).decode()
cache = next(c for c in MemoryCache._instances.values() if c._name == "modelview.fields_view_get")
stock_get = type(cache).get
misses = []


def get(self, k, default=None):
    result = stock_get(self, k, default)
    # key: 8.0 (groups, model, view_id, type, level); 8.2 (is_admin, groups, model, ...)
    if self is cache and result is default and "party.party" in k[:3]:
        misses.append(k)
    return result


type(cache).get = get
arches = [rpc("model.party.party.fields_view_get", [None, "form", {}], auth) for _ in range(3)]
assert all("result" in a for a in arches), arches[0]
assert arches[0] == arches[1] == arches[2]
print(json.dumps({"decided": runtime.decided(), "party_form_misses": len(misses)}))
