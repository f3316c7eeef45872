"""db copy --neutralize and db neutralize: no original personal value left, cron off, logins
with the reset password, the sale and invoice flows still working, production protected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tryton_ops.access.database import connect, is_sqlite, sqlite_file
from tryton_ops.capacity.modules import MODULES
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.lifecycle.backup import backup, filestore_dir, pg_tool, run_pg_tool
from tryton_ops.lifecycle.database import drop_database
from tryton_ops.lifecycle.neutralize import NeutralizeError, neutralize, rules_for

from .helpers import cli, use_modules, write_module

NEW_PASSWORD = "staging-password-1"

# personal data the way users enter it (through the ORM: value_compact, attachments in the
# filestore); one e-mail address shared by a party and a user, to check consistency
SEED = """
import json, sys
from trytond.pool import Pool
from trytond.transaction import Transaction
db = sys.argv[1]
Pool(db).init()
originals = {"names": [], "streets": [], "emails": [], "phones": []}
with Transaction().start(db, 0, context={"active_test": False}):
    pool = Pool()
    Party, Attachment, Note, User = (pool.get(n) for n in
        ("party.party", "ir.attachment", "ir.note", "res.user"))
    for i in range(5):
        name, street = f"Zelinda Quaresma {i}7", f"{i}9 Rua dos Fanqueiros"
        email, phone = f"zelinda.q{i}@quaresma-mail.pt", f"+351 21 342 7{i}{i}0"
        party, = Party.create([{"name": name,
            "addresses": [("create", [{"street": street, "city": "Odemira",
                                       "postal_code": "7630-1{i}2"}])],
            "contact_mechanisms": [("create", [{"type": "email", "value": email},
                                               {"type": "phone", "value": phone}])]}])
        Attachment.create([{"name": f"id-card-{i}.txt", "resource": str(party),
                            "data": f"passport of {name}".encode()}])
        Note.create([{"resource": str(party), "message": f"{name} prefers calls"}])
        for key, value in zip(originals, (name, street, email, phone)):
            originals[key].append(value)
    admin, = User.search([("login", "=", "admin")])
    User.write([admin], {"email": originals["emails"][0]})
    User.create([{"login": "clerk", "name": "Ottilie Brandauer", "password": "clerk-pass-1"}])
    originals["names"].append("Ottilie Brandauer")
    Transaction().commit()
print(json.dumps(originals))
"""

LOGIN = """
import sys
from trytond.pool import Pool
from trytond.transaction import Transaction
db, login, password = sys.argv[1], sys.argv[2], sys.stdin.read().strip()
Pool(db).init()
with Transaction().start(db, 0):
    print(bool(Pool().get("res.user").get_login(login, {"password": password})))
"""


def _trytond(config, script: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], input=stdin, env=trytond_env(config),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _can_login(config, name: str, login: str, password: str) -> bool:
    return _trytond(config, LOGIN, name, login, stdin=password) == "True"


def _dump(config, name: str) -> bytes:
    """Everything a dump of the database holds (SQLite: the file itself, WAL included)."""
    if is_sqlite(config):
        path = sqlite_file(config, name)
        wal = Path(str(path) + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    argv = [pg_tool(config, "pg_dump"), "-Fp", "-d", name]
    return run_pg_tool(config, argv, "pg_dump").encode()


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.output[result.output.index("{") :])


def test_neutralized_copy(trytond_db, tmp_path):
    config, source = trytond_db.config, trytond_db.name
    originals = json.loads(_trytond(config, SEED, source))
    assert filestore_dir(config, source).is_dir()
    with connect(config, source) as session:
        assert session.scalar("SELECT count(*) FROM ir_cron WHERE active = %s", (True,)) > 0
    password = tmp_path / "new-password"
    password.write_text(NEW_PASSWORD + "\n")

    done = _json(cli(config, "db", "copy", "-d", source, "staging", "--neutralize",
                     "--password-file", str(password), "--json"))  # fmt: skip
    report = done["neutralized"]
    assert report["users"] >= 2 and report["files_removed"] == 5
    assert report["rows"]["party_party.name"] >= 5
    assert {"ir", "res", "party"} <= set(report["modules"])

    dump = _dump(config, "staging")
    values = [v for kind in originals.values() for v in kind]
    assert [v for v in values if v.encode() in dump] == []
    assert all(v.encode() in _dump(config, source) for v in values)  # the grep would see them
    assert not filestore_dir(config, "staging").exists() or not any(
        p.is_file() for p in filestore_dir(config, "staging").rglob("*")
    )
    with connect(config, "staging") as session:
        assert session.scalar("SELECT count(*) FROM ir_cron WHERE active = %s", (True,)) == 0
        assert session.scalar("SELECT count(*) FROM ir_attachment") == 0
        assert session.scalar("SELECT count(*) FROM party_party") >= 5
        # consistent: the address shared by a party and admin got the same fake value
        admin_email = session.scalar("SELECT email FROM res_user WHERE login = 'admin'")
        assert admin_email.endswith("@example.invalid")
        shared = session.scalar(
            "SELECT count(*) FROM party_contact_mechanism WHERE value = %s", (admin_email,)
        )
        assert shared == 1
        compact = session.execute(
            "SELECT value, value_compact FROM party_contact_mechanism WHERE type = 'phone'"
        )
        assert all(v.startswith("+44 7700 900") and c == v.replace(" ", "") for v, c in compact)
    assert _can_login(config, "staging", "admin", NEW_PASSWORD)
    assert _can_login(config, "staging", "clerk", NEW_PASSWORD)
    assert not _can_login(config, "staging", "clerk", "clerk-pass-1")
    assert _can_login(config, source, "clerk", "clerk-pass-1")  # the source is untouched

    listed = cli(config, "db", "list")
    assert listed.exit_code == 0
    assert "staging  [neutralized " in listed.output
    assert f"{source}\n" in listed.output  # the source carries no mark

    # production is protected: never neutralized, never replaced by a neutralized copy
    refused = cli(config, "db", "neutralize", "-d", source, "--password-file", str(password),
                  "--yes")  # fmt: skip
    assert refused.exit_code == 1 and "production database" in refused.output
    refused = cli(config, "db", "copy", "-d", "staging", source, "--replace", "--yes")
    assert refused.exit_code == 1 and "refusing to replace production" in refused.output
    archive = backup(config, "staging", tmp_path / "staging.tar.gz").path
    refused = cli(config, "db", "restore", str(archive), "-d", source, "--replace", "--yes")
    assert refused.exit_code == 1 and "refusing to replace production" in refused.output
    assert _can_login(config, source, "clerk", "clerk-pass-1")

    # a neutralized copy may be neutralized again (a copy that is not production)
    again = _json(cli(config, "db", "neutralize", "-d", "staging", "--password-file",
                      str(password), "--yes", "--json"))  # fmt: skip
    assert again["users"] >= 2
    drop_database(config, "staging")


def test_neutralize_refusals(tmp_path, trytond_db):
    """Bad input: exit 2 for usage, 1 for what the database does not allow; nothing written."""
    config = trytond_db.config
    result = cli(config, "db", "neutralize", "-d", "nosuch", "--yes")
    assert result.exit_code == 1 and "does not exist" in result.output
    result = cli(config, "db", "neutralize", "--yes")
    assert result.exit_code == 2
    result = cli(config, "db", "copy", "-d", trytond_db.name, "x", "--password-file", "/dev/null")
    assert result.exit_code == 2 and "go with --neutralize" in result.output
    result = cli(config, "db", "copy", "-d", trytond_db.name, "bad/name", "--neutralize")
    assert result.exit_code == 1 and "bad database name" in result.output


@pytest.mark.one_series
def test_module_hook(tmp_path, monkeypatch, make_trytond_db):
    """A custom module declares its own fields in tryton.cfg [neutralize]."""
    root = tmp_path / "modules"
    package = write_module(root, "ops_nh", ["ir"])
    cfg = package / "tryton.cfg"
    cfg.write_text(cfg.read_text() + "[neutralize]\nops_nh_card.holder = person\n"
                   "ops_nh_card.mail = email\nops_nh_log = delete\n")  # fmt: skip
    use_modules(monkeypatch, root)
    assert rules_for(["ops_nh"]) == {
        "ops_nh": {"ops_nh_card.holder": "person", "ops_nh_card.mail": "email",
                   "ops_nh_log": "delete"}
    }  # fmt: skip
    db = make_trytond_db("sqlite")
    with connect(db.config, db.name) as session:  # what activating ops_nh would have made
        session.execute("INSERT INTO ir_module (name, state) VALUES ('ops_nh', 'activated')")
        session.execute("CREATE TABLE ops_nh_card (id INTEGER PRIMARY KEY, holder VARCHAR, "
                        "mail VARCHAR, note VARCHAR)")  # fmt: skip
        session.execute("CREATE TABLE ops_nh_log (id INTEGER PRIMARY KEY, line VARCHAR)")
        session.execute("INSERT INTO ops_nh_card VALUES (1, 'Ilse Vandamme', 'ilse@v.be', 'x')")
        session.execute("INSERT INTO ops_nh_log VALUES (1, 'Ilse Vandamme logged in')")
    report = neutralize(db.config, db.name, NEW_PASSWORD)
    assert "ops_nh" in report.modules
    assert report.rows["ops_nh_card.holder"] == 1 and report.rows["ops_nh_log"] == 1
    with connect(db.config, db.name) as session:
        holder, mail, note = session.execute("SELECT holder, mail, note FROM ops_nh_card")[0]
        assert holder != "Ilse Vandamme" and mail.endswith("@example.invalid") and note == "x"
        assert session.scalar("SELECT count(*) FROM ops_nh_log") == 0
    assert b"Ilse Vandamme" not in sqlite_file(db.config, db.name).read_bytes()

    cfg.write_text(cfg.read_text().replace("= delete", "= shred"))
    with pytest.raises(NeutralizeError, match="ops_nh_log = shred: unknown kind"):
        rules_for(["ops_nh"])


FLOW = """
import sys
from proteus import Model, config
db = sys.argv[1]
config.set_trytond(db)
Product, Sale = Model.get("product.product"), Model.get("sale.sale")
customer = Sale.find([])[0].party  # a customer of the seed, with its payment term
product = Product.find([("salable", "=", True)])[0]
sale = Sale(party=customer, invoice_method="order")
line = sale.lines.new(product=product)
line.quantity = 3.0
sale.click("quote")
sale.click("confirm")
sale.click("process")
sale.reload()
invoice, = sale.invoices
invoice.click("post")
print(sale.state, invoice.state, customer.name)
"""


@pytest.mark.timeout(900)  # the first database of MODULES in a run builds their template
def test_sale_and_invoice_flows_on_a_neutralized_copy(make_trytond_db, tmp_path):
    """The standard sales modules (PostgreSQL, the capacity seed): a sale confirmed and
    invoiced, the invoice posted, on the neutralized copy. The template of MODULES is the one
    the capacity tests use (built once per run)."""
    seed = Path(__file__).parents[1] / "capacity" / "seed.py"
    database = make_trytond_db("postgresql", MODULES)
    config = database.config
    env = trytond_env(config)
    done = subprocess.run([sys.executable, str(seed), database.name], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    password = tmp_path / "new-password"
    password.write_text(NEW_PASSWORD + "\n")
    result = cli(config, "db", "copy", "-d", database.name, "sales_staging", "--neutralize",
                 "--password-file", str(password))  # fmt: skip
    assert result.exit_code == 0, result.output
    try:
        assert "neutralized sales_staging" in result.output
        assert b"Customer 00" not in _dump(config, "sales_staging")
        state, invoice_state, customer = _trytond(config, FLOW, "sales_staging").split(" ", 2)
        assert (state, invoice_state) == ("processing", "posted")
        assert not customer.startswith("Customer ")
        assert _can_login(config, "sales_staging", "admin", NEW_PASSWORD)
    finally:
        drop_database(config, "sales_staging")
