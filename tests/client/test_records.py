"""Models and records against a real server: types, CRUD, relations, tracking, batches, paging."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from tests.client.test_session import count_requests
from tryton_ops.client import Client, Record


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_every_type_round_trips_through_the_server(client):
    """Sent as Python values, stored by trytond, read back equal (time: see test_types)."""
    currency = client.model("currency.currency").new(
        name=unique("cur"), symbol="T", code=unique("C")[-3:], rounding=Decimal("0.001"), digits=3
    )
    currency.save()
    rate = client.model("currency.currency.rate").new(
        currency=currency, date=dt.date(2024, 2, 29), rate=Decimal("1.234567")
    )
    rate.save()
    data = bytes(range(256)) * 40  # over the gzip threshold both ways
    attachment = client.model("ir.attachment").new(name="a", resource=currency, data=data)
    attachment.save()
    (cron,) = client.model("ir.cron").find([], limit=1)
    cron.next_call = dt.datetime(2031, 12, 31, 23, 59, 58)  # a DateTime field keeps seconds
    cron.save()
    started = dt.datetime(2030, 1, 1, 8, 0, 0)
    log = client.model("ir.cron.log").new(
        cron=cron, started=started, ended=started + dt.timedelta(days=3, seconds=7)
    )
    log.save()

    rate.fetch(["date", "rate", "currency"])
    assert (rate.date, rate.rate, rate.currency) == (
        dt.date(2024, 2, 29),
        Decimal("1.234567"),
        currency,
    )
    assert type(rate.rate) is Decimal
    assert attachment.data == data and attachment.resource is currency
    assert cron.next_call == dt.datetime(2031, 12, 31, 23, 59, 58)
    assert isinstance(cron.write_date, dt.datetime)  # a Timestamp, with microseconds
    assert (log.started, log.ended) == (started, started + dt.timedelta(days=3, seconds=7))
    assert log.duration == dt.timedelta(days=3, seconds=7)  # a timedelta computed by the server
    delay = dt.timedelta(hours=1, microseconds=5)  # a timedelta decoded by the server
    assert client.model("ir.trigger").search([("minimum_time_delay", "=", delay)]) == []
    aware = dt.datetime(2031, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    cron.next_call = aware
    cron.save()
    assert cron.next_call == dt.datetime(2031, 1, 1, 10)  # stored as naive UTC


def test_crud_and_rpc_mirrors(client):
    Party = client.model("party.party")
    name = unique("crud")
    ids = Party.create([{"name": f"{name} {i}"} for i in range(3)])
    domain = [("name", "like", f"{name}%")]
    assert Party.search(domain, order=[("id", "ASC")]) == ids
    assert Party.search_count(domain) == 3
    assert [
        r["name"] for r in Party.search_read(domain, fields=["name"], order=[("id", "ASC")])
    ] == [f"{name} {i}" for i in range(3)]
    Party.write(ids[:1], {"name": f"{name} first"})
    assert Party.read(ids[:1], ["name"])[0]["name"] == f"{name} first"
    (copy,) = Party.copy(ids[:1], {"name": f"{name} copy"})
    assert Party.search_count(domain) == 4
    Party.delete([copy, *ids])
    assert Party.search_count(domain) == 0


def test_records_relations_and_tracking(client):
    Party, Address = client.model("party.party"), client.model("party.address")
    Category = client.model("party.category")
    red, blue = (Category.new(name=unique(c)) for c in ("red", "blue"))
    Category.save([red, blue])
    party = Party.new(name=unique("rel"), addresses=[Address.new(street="1 A St", city="X")])
    party.categories = [red]
    party.save()
    assert party.id and [a.street for a in party.addresses] == ["1 A St"]
    assert party.addresses[0].party is party  # many2one back, same object (identity map)
    assert party.categories == [red]

    party.addresses[0].city = "Y"  # a child changed in place: saved with its parent
    party.addresses = [*party.addresses, Address.new(street="2 B St")]
    party.categories = [blue]  # many2many: red removed, blue added
    assert set(party.changes) == {"addresses", "categories"}
    party.save()
    assert party.changes == {}
    assert sorted((a.street, a.city) for a in party.addresses) == [
        ("1 A St", "Y"),
        ("2 B St", None),
    ]
    assert party.categories == [blue] and red.id  # removed from the party, not deleted

    first = party.addresses[0]
    party.addresses = [a for a in party.addresses if a is not first]
    party.save()
    assert len(party.addresses) == 1
    assert Address.search_count([("id", "=", first.id)]) == 0  # one2many removal deletes
    party.delete()
    assert Party.search_count([("id", "=", party.id)]) == 0


def test_identity_map_lazy_group_loading_and_batches(stack):
    with Client(stack.url, stack.database.name, batch_size=7) as session:
        session.login("admin", stack.database.password)
        Party = session.model("party.party")
        name = unique("batch")
        ids = Party.create(
            [{"name": f"{name} {i:02}", "addresses": [("create", [{}])]} for i in range(20)]
        )
        sent = count_requests(session)
        parties = Party.find([("name", "like", f"{name}%")], order=[("name", "ASC")])
        assert [p.name for p in parties] == [f"{name} {i:02}" for i in range(20)]
        reads = [b for b in sent if '"model.party.party.read"' in b]
        assert len(reads) == 3  # 20 names: one batched read per 7 records, not one per record
        streets = [a.street for p in parties for a in p.addresses]
        assert len(streets) == 20
        assert sum('"model.party.address.read"' in b for b in sent) == 3
        assert Party.browse([ids[0]])[0] is parties[0]
        again = Party.find([("id", "in", ids)], fields=["name", "addresses.city"])
        assert {id(p) for p in again} == {id(p) for p in parties}
        assert Party.read(ids, ["name"]) == [
            {"id": i, "name": f"{name} {n:02}"} for n, i in enumerate(ids)
        ]

        pages = list(Party.iterate([("name", "like", f"{name}%")], fields=["name"], page=6))
        assert [p.id for p in pages] == sorted(ids)
        lazy = list(Party.iterate([("id", "in", ids)], page=20))
        assert [p.id for p in lazy] == sorted(ids)


def test_save_sends_only_changed_fields_and_buttons(client):
    Party = client.model("party.party")
    ids = Party.create([{"name": unique("save")} for _ in range(2)])  # whatever ran before
    parties = Party.find([("id", "in", ids)], fields=["name", "code"])
    assert len(parties) == 2
    for party in parties:
        party.name = party.name  # unchanged value, still a change the caller made
    sent = count_requests(client)
    Party.save(parties)
    (write,) = [b for b in sent if '"model.party.party.write"' in b]
    assert '"code"' not in write and '"name"' in write
    assert '"_timestamp"' in write  # read with the records: concurrent changes are detected
    (cron,) = client.model("ir.cron").find([("method", "=", "ir.trigger|trigger_time")])
    assert cron.call("run_once") is None  # a button, run by the server
    with pytest.raises(AttributeError, match="no field 'nosuch'"):
        parties[0].nosuch = 1
    assert isinstance(parties[0], Record)
