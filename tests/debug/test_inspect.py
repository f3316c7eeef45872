"""Introspection of a real party + ops_debug database, checked against the source files."""

from __future__ import annotations

from pathlib import Path

from tests.debug.helpers import batch, debug_db, line_of, ok


def test_inspect_party_database(make_trytond_db, db_backend):
    database = debug_db(make_trytond_db, db_backend)
    (
        party,
        postal_setup,
        party_write,
        email,
        street,
        listing,
        bad_model,
        bad_method,
        checks,
        located,
        everything,
    ) = batch(
        database,
        ("inspect", {"target": "party.party", "views": True, "arch": True}),
        ("inspect", {"target": "country.postal_code.__setup__"}),
        ("inspect", {"target": "party.party.write"}),
        ("inspect", {"target": "party.party.email"}),
        ("inspect", {"target": "party.address.street"}),
        ("inspect", {"target": "party*"}),
        ("inspect", {"target": "party.partyy"}),
        ("inspect", {"target": "party.party.wrte"}),
        ("checks", {}),
        ("locate", {"target": "party.party.get_full_name"}),
        ("inspect_all", {}),
    )

    # the class chain: party's Party first (it runs first), with its real file:line
    party = ok(party)
    assert party["kind"] == "model" and party["modules"] == ["party"]
    first = party["classes"][0]
    assert first["module"] == "party"
    assert first["class"] == "trytond.modules.party.party.Party"
    assert first["file"].endswith("trytond/modules/party/party.py")
    assert first["line"] == line_of(first["file"], r"^class Party\(")
    framework = [c for c in party["classes"] if c["module"] is None]
    assert "trytond.model.modelsql.ModelSQL" in [c["class"] for c in framework]
    for cls in party["classes"]:
        assert Path(cls["file"]).is_file() and cls["line"] > 0, cls

    fields = {f["name"]: f for f in party["fields"]}
    party_py = first["file"]
    assert fields["name"]["declared"][-1]["module"] == "party"
    assert fields["name"]["declared"][-1]["line"] == line_of(party_py, r"^    name = fields\.")
    assert fields["addresses"]["relation"] == "party.address"
    assert fields["addresses"]["relation_field"] == "party"
    assert "Eval('active'" in fields["addresses"]["states"]["readonly"]
    assert fields["code"]["required"] is True

    # a function field: getter and setter with module and file:line
    getter = fields["email"]["getter"]
    assert fields["email"]["function"] is True
    assert getter["method"] == "get_contact_mechanism" and getter["module"] == "party"
    assert getter["line"] == line_of(party_py, r"def get_contact_mechanism\(")
    assert fields["email"]["setter"]["method"] == "set_contact_mechanism"
    assert ok(email)["field"]["getter"] == getter

    # views: the base form from party/view with its final architecture
    forms = [v for v in party["views"] if v["name"] == "party_form"]
    assert len(forms) == 1
    assert forms[0]["module"] == "party" and forms[0]["type"] == "form"
    assert forms[0]["file"].endswith("party/view/party_form.xml")
    assert forms[0]["arch"].startswith("<form") and 'name="addresses"' in forms[0]["arch"]

    # an override chain across modules: party's postal code then country's, all chaining up
    chain = ok(postal_setup)["overrides"]
    assert [c["module"] for c in chain[:2]] == ["party", "country"]
    assert all(c["module"] is None for c in chain[2:])
    assert all(c["calls_super"] for c in chain[:-1])
    assert chain[0]["file"].endswith("trytond/modules/party/country.py")
    assert chain[1]["file"].endswith("trytond/modules/country/country.py")
    assert chain[1]["line"] == line_of(
        chain[1]["file"], r"def __setup__\(", after=r"^class PostalCode\("
    )
    assert chain[0]["line"] == line_of(chain[0]["file"], r"def __setup__\(")
    assert chain[0]["kind"] == "classmethod"

    # write of party.party: only the framework defines it (party uses on_modification)
    write = ok(party_write)["overrides"]
    assert write[0]["class"] == "trytond.model.modelsql.ModelSQL"
    assert {c["module"] for c in write} == {None}
    assert "records" in write[0]["signature"] and "values" in write[0]["signature"]
    assert write[0]["line"] == line_of(write[0]["file"], r"    def write\(")

    # on_change / on_change_with dependencies
    street = ok(street)["field"]
    assert street["on_change"]["method"] == "on_change_street"
    assert "street_name" in street["on_change"]["depends"]
    assert street["on_change_with"]["method"] == "on_change_with_street"
    assert street["on_change"]["line"] == line_of(
        street["on_change"]["file"], r"def on_change_street\("
    )

    models = [m["model"] for m in ok(listing)["models"]]
    assert "party.party" in models and "ir.cron" not in models

    # bad names: a clear error with close matches
    assert not bad_model["ok"] and "unknown model 'party.partyy'" in bad_model["error"]
    assert "party.party" in bad_model["error"]
    assert not bad_method["ok"] and "did you mean: write" in bad_method["error"]

    findings = ok(checks)["findings"]
    assert {f["check"] for f in findings} <= {"signature", "no-super"}
    deletes = [f for f in findings if (f["model"], f["method"]) == ("res.user", "delete")]
    assert [f["check"] for f in deletes] == ["no-super"]
    assert deletes[0]["line"] == line_of(deletes[0]["file"], r"    def delete\(cls, users\)")

    located = ok(located)
    assert located["line"] == line_of(located["file"], r"def get_full_name\(")

    everything = ok(everything)
    assert everything["models"] > 100 and everything["views"] > 50
    print(
        f"\ninspect of every model ({db_backend}): {everything['models']} models, "
        f"{everything['fields']} fields, {everything['views']} views in "
        f"{everything['seconds']:.2f} s"
    )
