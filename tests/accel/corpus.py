"""Raw JSON-RPC over http.client (no automatic decompression, exact headers) and a corpus of
real calls: views of several models, reads of records with every field type, errors."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import http.client
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from tryton_ops.client import Connection, types

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def encoding(self) -> str | None:
        return self.headers.get("content-encoding")


class RawClient:
    """One keep-alive HTTP connection sending JSON-RPC exactly as told."""

    def __init__(self, conn: Connection):
        parts = urlsplit(conn.url)
        self.http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.path = f"/{conn.database}/rpc/"
        token = f"{conn.login_name}:{conn.user_id}:{conn.session}".encode()
        self.auth = "Session " + base64.b64encode(token).decode()
        self.ids = 0

    def post(self, method: str, params: list, gzip_ok: bool) -> RawResponse:
        self.ids += 1
        body = types.dumps({"id": self.ids, "method": method, "params": params})
        if isinstance(body, str):
            body = body.encode()
        self.http.putrequest("POST", self.path, skip_accept_encoding=True)
        self.http.putheader("Content-Type", "application/json")
        self.http.putheader("Authorization", self.auth)
        if gzip_ok:
            self.http.putheader("Accept-Encoding", "gzip")
        self.http.putheader("Content-Length", str(len(body)))
        self.http.endheaders(body)
        resp = self.http.getresponse()
        raw = resp.read()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, raw)

    def close(self) -> None:
        self.http.close()


def stock_bytes(resp: RawResponse) -> bytes:
    """Stock's body after decompression: stock may label a plain body gzip, so sniff."""
    return gzip.decompress(resp.raw) if resp.raw[:2] == GZIP_MAGIC else resp.raw


def strict_bytes(resp: RawResponse, gzip_ok: bool) -> bytes:
    """A body whose Content-Encoding must say exactly what it is."""
    if resp.encoding == "gzip":
        assert gzip_ok, "gzip body sent to a client that did not accept gzip"
        assert resp.raw[:2] == GZIP_MAGIC
        return gzip.decompress(resp.raw)
    assert resp.encoding is None, resp.encoding
    assert resp.raw[:2] != GZIP_MAGIC
    return resp.raw


VIEWS = [
    ("party.party", "form"),
    ("party.party", "tree"),
    ("party.address", "form"),
    ("party.contact_mechanism", "tree"),
    ("res.user", "form"),
    ("country.country", "tree"),
    ("ir.attachment", "form"),
    ("ir.model", "tree"),
    ("ir.trigger", "form"),
    ("ir.cron", "tree"),
]


def populate(conn: Connection, parties: int = 200) -> dict:
    """Records with every field type trytond ships here; returns ids to read back."""
    category = conn.call("model.party.category.create", [{"name": "Key accounts"}], {})[0]
    countries = conn.call("model.country.country.create", [{"name": "Utopia", "code": "UT"}], {})
    values = [
        {
            "name": f"Party {i:04d} \u00e9\u4e2d",
            "code": f"P{i:04d}",
            "categories": [("add", [category])],
            "addresses": [("create", [{"street": f"{i} Main St\nFloor {i % 7}", "city": "X"}])],
            "contact_mechanisms": [("create", [{"type": "email", "value": f"p{i}@example.com"}])],
        }
        for i in range(parties)
    ]
    party_ids = []
    for start in range(0, len(values), 100):
        party_ids += conn.call("model.party.party.create", values[start : start + 100], {})
    attachment = conn.call(
        "model.ir.attachment.create",
        [
            {
                "name": "blob.bin",
                "resource": f"party.party,{party_ids[0]}",
                "data": bytes(range(256)),
            }
        ],
        {},
    )
    # A TimeDelta field: party's configuration has one on 8.2, not on 8.0.
    timedelta = "identifier_eu_vat_validation_period" in all_fields(conn, "party.configuration")
    if timedelta:
        conn.call(
            "model.party.configuration.write",
            [1],
            {"identifier_eu_vat_validation_period": dt.timedelta(days=30, seconds=5)},
            {},
        )
    return {
        "timedelta": timedelta,
        "party": party_ids,
        "country": countries,
        "attachment": attachment,
    }


def all_fields(conn: Connection, model: str) -> list[str]:
    return sorted(conn.call(f"model.{model}.fields_get", None, {}))


def calls(conn: Connection, ids: dict) -> list[tuple[str, list]]:
    """The corpus: (method, params), small and large bodies, results and errors."""
    corpus: list[tuple[str, list]] = [("model.party.party.fields_view_get", [None, "form", {}])]
    corpus += [(f"model.{m}.fields_view_get", [None, kind, {}]) for m, kind in VIEWS]
    corpus += [(f"model.{m}.fields_get", [None, {}]) for m in ("party.party", "res.user")]
    party_fields = [f for f in all_fields(conn, "party.party") if f != "full_name"]
    corpus += [
        ("model.party.party.search_read", [[], 0, 200, [["id", "ASC"]], party_fields, {}]),
        ("model.party.party.search_read", [[], 0, 2, [["id", "ASC"]], ["name"], {}]),
        ("model.party.party.read", [ids["party"][:20], party_fields, {}]),
        ("model.party.party.read", [ids["party"][:1], ["name"], {}]),
        ("model.party.address.search_read", [[], 0, 200, None, ["street", "party", "city"], {}]),
        ("model.res.user.read", [[1], all_fields(conn, "res.user"), {}]),
        ("model.country.country.read", [ids["country"], all_fields(conn, "country.country"), {}]),
        ("model.ir.attachment.read", [ids["attachment"], all_fields(conn, "ir.attachment"), {}]),
        ("model.ir.cron.search_read", [[], 0, None, None, all_fields(conn, "ir.cron"), {}]),
        ("model.ir.date.today", [{}]),
        ("model.ir.model.search_read", [[], 0, 500, None, ["model", "name", "module"], {}]),
        ("model.party.party.search_count", [[], {}]),
        ("model.res.user.get_preferences", [False, {}]),
        ("model.ir.ui.menu.search_read", [[], 0, None, None, ["name", "icon", "childs"], {}]),
        # errors: a user error, a method that is not exposed, a server-side exception
        ("model.party.party.read", [[2**30], ["name"], {}]),
        ("model.party.party.no_such_method", [{}]),
        ("model.party.party.read", ["not a list of ids", {}]),
        ("model.party.party.create", [[{"name": "x", "no_such_field": 1}], {}]),
    ]
    if ids["timedelta"]:  # the singleton is stored (read before, its dates are "now")
        fields = all_fields(conn, "party.configuration")
        corpus.append(("model.party.configuration.read", [[1], fields, {}]))
    return corpus


def result_sizes(raws: list[bytes]) -> list[int]:
    return [len(r) for r in raws]


def decode(raw: bytes) -> dict:
    return json.loads(raw)
