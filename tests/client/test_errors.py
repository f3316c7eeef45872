"""Each kind of Tryton error, provoked for real, arrives as its own exception with its message."""

from __future__ import annotations

import pytest

from tests.client.test_records import unique
from tryton_ops.client import (
    AccessError,
    Client,
    ConcurrencyError,
    ServerError,
    ServerWarning,
    UserError,
)

PASSWORD = "plain-user-password-1"


def test_user_error_carries_the_message(client):
    with pytest.raises(UserError) as info:
        client.model("currency.currency").create([{"name": "no code"}])
    assert type(info.value) is UserError
    assert 'A value is required for field "Code"' in info.value.message
    assert str(info.value).startswith(info.value.message)


def test_access_error_for_a_real_user(stack, client):
    login = unique("plain")
    client.model("res.user").create([{"name": "Plain", "login": login, "password": PASSWORD}])
    with Client(stack.url, stack.database.name) as plain:
        plain.login(login, PASSWORD)
        (cron,) = plain.model("ir.cron").search([], limit=1)
        with pytest.raises(AccessError) as info:
            plain.model("ir.cron").write([cron], {"interval_number": 3})
        assert 'You are not allowed to access "Cron"' in info.value.message
        assert "groups" in info.value.description
        assert isinstance(info.value, UserError)  # catching UserError still catches it


def test_concurrent_write_is_refused(stack, client):
    party = client.model("party.party").new(name=unique("conc"))
    party.save()
    party.fetch(["name"])  # read with its timestamp
    with Client(stack.url, stack.database.name) as other:
        other.login("admin", stack.database.password)
        other.model("party.party").write([party.id], {"name": "changed elsewhere"})
    party.name = "stale change"
    with pytest.raises(ConcurrencyError, match="modified"):
        party.save()
    assert client.model("party.party").read([party.id], ["name"])[0]["name"] == "changed elsewhere"


def test_warning_names_what_to_skip(client):
    Party = client.model("party.party")
    source, destination = Party.new(name=unique("src")), Party.new(name=unique("dst"))
    Party.save([source, destination])
    replace = client.wizard("party.replace", [source])
    data = {"ask": {"source": source.id, "destination": destination.id}}
    with pytest.raises(ServerWarning) as info:
        replace.execute("replace", data)
    assert info.value.name == f"party.replace name {source.id} {destination.id}"
    assert "different" in info.value.message.lower()
    with pytest.raises(ServerError):  # unexpected server exceptions stay ServerError
        replace.execute("nosuchstate", data)
    client.acknowledge(info.value)
    replace.execute("replace", data)  # acknowledged: the wizard runs
    replace.delete()
    assert Party.read([source.id], ["replaced_by"])[0]["replaced_by"] == destination.id
