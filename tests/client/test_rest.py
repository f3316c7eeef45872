"""REST with an application key against a real server: CRUD, paging, actions, errors, types."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import zipfile
from decimal import Decimal

import pytest

from tests.client.test_records import unique
from tests.client.test_session import Silent
from tryton_ops.client import (
    AccessError,
    AsyncRestClient,
    Client,
    Forbidden,
    LoginFailed,
    NotFound,
    RestClient,
    Timeout,
    TransportError,
    UserError,
)
from tryton_ops.testing.processes import free_port


def make_key(client: Client, user_id: int) -> str:
    """A key of application 'rest' for `user_id`, made over JSON-RPC; checked validated."""
    Application = client.model("res.user.application")
    [app] = Application.create([{"user": user_id, "application": "rest"}])
    [row] = Application.read([app], ["key", "state"])
    if row["state"] != "validated":
        Application.call("validate_", [app])
    assert Application.read([app], ["state"])[0]["state"] == "validated"
    return row["key"]


@pytest.fixture(scope="module")
def admin_key(stack) -> str:
    with Client(stack.url, stack.database.name) as client:
        client.login("admin", stack.database.password)
        return make_key(client, client.user_id)


@pytest.fixture
def rest(stack, admin_key):
    with RestClient(stack.url, stack.database.name, admin_key) as client:
        yield client


def requests_of(client) -> list[str]:
    """`VERB path?query` of each request the client sends from now on."""
    seen: list[str] = []
    client.transport.http.event_hooks["request"].append(
        lambda request: seen.append(f"{request.method} {request.url.raw_path.decode()}")
    )
    return seen


def test_crud_with_dotted_fields(rest):
    Party = rest.model("party.party")
    name = unique("rest")
    fields = ["name", "code", "addresses.street", "addresses.city"]
    values = {"name": name, "addresses": [["create", [{"street": "1 Main St", "city": "Liège"}]]]}
    created = Party.create(values, fields=fields)
    assert created["name"] == name and created["__name__"] == "party.party"
    [address] = created["addresses"]  # dotted fields come back nested
    assert (address["street"], address["city"], address["__name__"]) == (
        "1 Main St",
        "Liège",
        "party.address",
    )
    assert Party.get(created["id"], fields) == created
    assert set(Party.get(created["id"])) == {"id", "__name__", "rec_name"}  # model's defaults

    updated = Party.update(created["id"], {"name": f"{name} bis"}, fields=["name"])
    assert updated == {"id": created["id"], "__name__": "party.party", "name": f"{name} bis"}
    Party.create({"name": f"{name} ter"})
    found = Party.search([("name", "like", f"{name}%")], ["name"], order=[("name", "DESC")])
    assert [r["name"] for r in found] == [f"{name} ter", f"{name} bis"]
    second = Party.search([("name", "like", f"{name}%")], ["name"], [("name", "ASC")], 1, 1)
    assert [r["name"] for r in second] == [f"{name} ter"]

    assert Party.delete(created["id"]) is None
    with pytest.raises(NotFound, match="404") as info:
        Party.get(created["id"])
    assert info.value.status == 404
    with pytest.raises(NotFound):
        Party.update(created["id"], {"name": "gone"})
    with pytest.raises(NotFound):
        Party.delete(created["id"])


def test_paging_through_range(stack, rest):
    name = unique("page")
    with Client(stack.url, stack.database.name) as client:
        client.login("admin", stack.database.password)
        ids = client.model("party.party").create([{"name": f"{name} {n}"} for n in range(7)])
    Party = rest.model("party.party")
    domain = [("name", "like", f"{name}%")]
    sent = requests_of(rest)
    assert [r["id"] for r in Party.iterate(domain, ["name"], size=3)] == ids
    assert len(sent) == 3  # 3 + 3 + 1: a short page ends it
    page = Party.page(domain, ["name"], offset=2, size=2)
    assert ([r["id"] for r in page.rows], page.offset, page.total) == (ids[2:4], 2, 7)
    sent.clear()
    assert [r["id"] for r in Party.iterate([*domain, ("id", "<=", ids[5])], size=3)] == ids[:6]
    assert len(sent) == 2  # the total in Content-Range stops it without an empty page
    assert Party.page(domain, offset=50, size=10).rows == []  # 416 past the end: empty


def test_actions_on_model_and_record(rest, admin_key, stack):
    Party = rest.model("party.party")
    party = Party.create({"name": unique("act")}, fields=["name"])
    count = Party.action("search_count", domain=[("name", "=", party["name"])])
    assert count == 1
    [copy] = Party.action("copy", party["id"], default={"name": f"{party['name']} copy"})
    assert Party.get(copy, ["name"])["name"] == f"{party['name']} copy"

    # a second key, used, then cancelled by a button called over REST: refused from then on
    Application = rest.model("res.user.application")
    mine = Application.search([("key", "=", admin_key)], ["user"])[0]
    other = Application.create({"user": mine["user"], "application": "rest"}, ["key", "state"])
    assert other["state"] == "validated"
    with RestClient(stack.url, stack.database.name, other["key"]) as second:
        assert second.model("party.party").get(party["id"], ["name"]) == party
        # a button returns nothing: the record is read back
        cancelled = Application.action("cancel", other["id"])
        assert cancelled["id"] == other["id"]
        assert Application.get(other["id"], ["state"])["state"] == "cancelled"
        with pytest.raises(LoginFailed, match="401") as info:
            second.model("party.party").get(party["id"])
        assert other["key"] not in str(info.value)


def test_errors_map_to_client_exceptions(stack, rest, admin_key):
    Party = rest.model("party.party")
    party = Party.create({"name": unique("err")})
    with pytest.raises(Forbidden, match="403"):
        Party.action("browse", ids=[party["id"]])  # a class method, not in __rpc__
    with pytest.raises(UserError) as info:
        rest.model("currency.currency").create({"name": "no code"})
    assert type(info.value) is UserError
    assert 'A value is required for field "Code"' in info.value.message
    with pytest.raises(NotFound, match="404"):
        rest.model("party.party").get(10**9)
    wrong = RestClient(stack.url, stack.database.name, "not-a-key")
    with wrong, pytest.raises(LoginFailed) as info:
        wrong.model("party.party").search()
    assert info.value.status == 401 and "application key" in str(info.value)
    with pytest.raises(TransportError) as info:  # trytond answers a KeyError: 500
        rest.model("no.such.model").search()
    assert info.value.status == 500 and "no.such.model" in str(info.value)
    with RestClient(stack.url, "no_such_database", admin_key) as elsewhere, pytest.raises(NotFound):
        elsewhere.model("party.party").search()


def test_access_error_of_a_plain_user(stack, rest):
    login = unique("plainrest")
    [user] = rest.model("res.user").action("create", vlist=[{"name": "Plain", "login": login}])
    with Client(stack.url, stack.database.name) as client:
        client.login("admin", stack.database.password)
        key = make_key(client, user)
    with RestClient(stack.url, stack.database.name, key) as plain:
        with pytest.raises(AccessError, match="not allowed") as info:
            plain.model("res.group").create({"name": "made by a plain user"})
        assert isinstance(info.value, UserError)
        [cron] = rest.model("ir.cron").search(limit=1)
        # refused inside an action: 403 on 8.2 (AccessError), on 8.0 the button's own check
        # answers first (400 with its message)
        with pytest.raises((Forbidden, AccessError), match=r"403|not allowed"):
            plain.model("ir.cron").action("run_once", cron["id"])


def test_types_context_and_language_round_trip(stack, rest, admin_key):
    code = unique("C")[-3:]
    currency = rest.model("currency.currency").create(
        {
            "name": unique("cur"),
            "symbol": "T",
            "code": code,
            "rounding": Decimal("0.001"),
            "digits": 3,
        },
        fields=["rounding"],
    )
    assert currency["rounding"] == Decimal("0.001")
    rate = rest.model("currency.currency.rate").create(
        {"currency": currency["id"], "date": dt.date(2024, 2, 29), "rate": Decimal("1.234567")},
        fields=["date", "rate", "currency.code"],
    )
    assert (rate["date"], rate["rate"], rate["currency"]["code"]) == (
        dt.date(2024, 2, 29),
        Decimal("1.234567"),
        code,
    )
    # the currency's rate depends on the context date: sent in X-Tryton-Context
    Currency = rest.model("currency.currency")
    after = Currency.with_context(date=dt.date(2024, 3, 1)).get(currency["id"], ["rate"])
    before = Currency.with_context(date=dt.date(2024, 2, 1)).get(currency["id"], ["rate"])
    assert (after["rate"], before["rate"]) == (Decimal("1.234567"), Decimal(0))  # no rate yet

    with RestClient(stack.url, stack.database.name, admin_key, language="fr") as french:
        languages = []
        french.transport.http.event_hooks["response"].append(
            lambda response: languages.append(response.headers.get("Content-Language"))
        )
        french.model("party.party").search(limit=1)
        assert languages == ["fr"]


def test_report_bytes_and_filename(rest):
    party = rest.model("party.party").create({"name": unique("label")})
    report = rest.report("party.label", party["id"])
    assert report.filename == f"Labels-{party['rec_name']}.odt"
    assert report.mimetype == "application/vnd.oasis.opendocument.text"
    with zipfile.ZipFile(io.BytesIO(report.content)) as document:  # an OpenDocument file
        assert party["rec_name"] in document.read("content.xml").decode()


def test_async_tasks_share_one_client(stack, admin_key):
    async def main():
        async with AsyncRestClient(stack.url, stack.database.name, admin_key) as rest:
            Party = rest.model("party.party")
            name = unique("arest")

            async def worker(n: int) -> tuple[int, str]:
                values = {"name": f"{name} {n}", "code": f"{name}-{n}"}
                created = await Party.create(values, fields=["name"])
                await Party.update(created["id"], {"name": f"{name} {n} saved"})
                return created["id"], (await Party.get(created["id"], ["name"]))["name"]

            results = await asyncio.gather(*(worker(n) for n in range(12)))
            assert sorted(r[1] for r in results) == sorted(f"{name} {n} saved" for n in range(12))
            seen = [r["id"] async for r in Party.iterate([("name", "like", f"{name}%")], size=5)]
            assert seen == sorted(r[0] for r in results)
            counts = await asyncio.gather(
                *(Party.action("search_count", domain=[]) for _ in range(8))
            )
            assert len(set(counts)) == 1
            with pytest.raises(NotFound):
                await Party.get(10**9)

    asyncio.run(main())


def test_bad_input_is_refused_before_sending():
    for key in ("", "   ", None, "two words", "clé"):
        with pytest.raises(ValueError, match="application key"):
            RestClient("http://localhost:8000", "db", key)
    for url in ("localhost:8000", "ftp://host", "http://", ""):
        with pytest.raises(ValueError, match="not a server URL"):
            RestClient(url, "db", "k")
    with pytest.raises(ValueError, match="database"):
        RestClient("http://localhost:8000", "", "k")


def test_the_key_never_shows(stack, admin_key, caplog):
    caplog.set_level(logging.DEBUG)
    with RestClient(stack.url, stack.database.name, admin_key) as rest:
        assert admin_key not in repr(rest) and "hidden" in repr(rest)
        assert admin_key not in repr(rest.transport.http.headers)
        rest.model("party.party").search(limit=1)
        with pytest.raises(NotFound) as info:
            rest.model("party.party").get(10**9)
        assert admin_key not in str(info.value)
    assert caplog.records and admin_key not in caplog.text


def test_server_down_and_retries_of_reads_only():
    key = "k" * 64
    with RestClient(f"http://127.0.0.1:{free_port()}", "db", key, retries=1) as rest:
        with pytest.raises(TransportError, match="ConnectError") as info:
            rest.model("party.party").search()
        assert key not in str(info.value)
    server = Silent()
    try:
        url = f"http://127.0.0.1:{server.port}"
        with RestClient(url, "db", key, timeout=0.3, retries=2) as rest:
            with pytest.raises(Timeout, match="ReadTimeout"):
                rest.model("party.party").search()
            assert len(server.accepted) == 3  # a GET: sent again twice
            with pytest.raises(Timeout):
                rest.model("party.party").create({"name": "x"})
            assert len(server.accepted) == 4  # a POST is never sent twice
    finally:
        server.close()
