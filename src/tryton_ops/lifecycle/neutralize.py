"""`db neutralize` and `db copy --neutralize`: a copy of production that is safe to try things on.

What it does, in one transaction, on the tables and columns that exist (a rule of a module that
is not activated finds nothing to change):

- scheduled actions off (`ir_cron.active`), triggers off, the task queue emptied, the e-mail
  archive, notes' text, attachments, avatars, sessions, devices and login attempts removed;
- every user's password set to one new password (the admin password of the copy);
- personal data replaced by fake values (Faker) that are *consistent*: one original value
  always becomes the same fake value within a run, wherever it appears (a party name, an
  e-mail address used twice), so searches and joins on them still work; NULL and empty values
  stay as they are. Fake e-mail addresses are under `example.invalid` and phone numbers in a
  range reserved for fiction (+44 7700 900xxx): nothing can reach a real person.
- a mark: the table `ops_neutralized` (when, from what), shown by `status` and `db list`,
  carried by backups, and checked by `--replace` so a neutralized copy never replaces the
  production database.

Then the freed space is reclaimed (VACUUM), so the old values are gone from the files too.

The rules of the standard modules are in RULES. A custom module adds its own in its
`tryton.cfg` (docs/admin.md):

    [neutralize]
    my_table.my_column = person
    my_other_table = delete

The seeds are HMACs of the original value under a key drawn for the run and then forgotten,
so the fake values reveal nothing about the originals.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tryton_ops.access.database import DatabaseError, Session, activated_modules, connect, vacuum
from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle.modules import module_dir

MARK_TABLE = "ops_neutralized"
SECTION = "neutralize"

# kind of value -> how a seeded Faker makes one
FAKERS: dict[str, Callable] = {
    "person": lambda f: f.name(),
    "party": lambda f: f.company() if f.random.random() < 0.4 else f.name(),
    "street": lambda f: f.street_address(),
    "street_name": lambda f: f.street_name(),
    "building_number": lambda f: f.building_number(),
    "city": lambda f: f.city(),
    "postal_code": lambda f: f.postcode(),
    "email": lambda f: f"{f.user_name()}.{f.random_int(100, 999)}@example.invalid",
    "phone": lambda f: f"+44 7700 900{f.random_int(0, 999):03d}",
    "url": lambda f: f"https://{f.domain_word()}.example.invalid/",
    "username": lambda f: f"{f.user_name()}{f.random_int(100, 999)}",
    "code": lambda f: f.bothify("??########").upper(),
    "iban": lambda f: f.iban(),
    "text": lambda f: "(neutralized)",
}
# kinds that are not values
ACTIONS = ("null", "delete", "off")
CONTACT = "contact"  # party_contact_mechanism.value: a fake of the kind its type says
KINDS = (*FAKERS, *ACTIONS, CONTACT)

CONTACT_KINDS = {
    "email": "email",
    "phone": "phone",
    "mobile": "phone",
    "fax": "phone",
    "website": "url",
}

# module -> {"table.column" or "table": kind}
RULES: dict[str, dict[str, str]] = {
    "ir": {
        "ir_cron.active": "off",
        "ir_trigger.active": "off",
        "ir_queue": "delete",
        "ir_email": "delete",
        "ir_email_address": "delete",
        "ir_note.message": "text",
        "ir_attachment": "delete",
        "ir_avatar": "delete",
        "ir_avatar_cache": "delete",
        "ir_session": "delete",
        "ir_session_wizard": "delete",
    },
    "res": {
        "res_user.name": "person",
        "res_user.email": "email",
        "res_user.signature": "null",
        "res_user.password_reset": "null",
        "res_user.password_reset_expire": "null",
        "res_user_device": "delete",
        "res_user_login_attempt": "delete",
        "res_user_application": "delete",
    },
    "party": {
        "party_party.name": "party",
        "party_address.party_name": "party",
        "party_address.attn": "person",
        "party_address.street": "street",
        "party_address.street_unstructured": "street",
        "party_address.street_name": "street_name",
        "party_address.building_name": "null",
        "party_address.building_number": "building_number",
        "party_address.floor_number": "null",
        "party_address.room_number": "null",
        "party_address.unit_number": "null",
        "party_address.post_box": "null",
        "party_address.private_bag": "null",
        "party_address.post_office": "null",
        "party_address.postal_code": "postal_code",
        "party_address.city": "city",
        "party_contact_mechanism.value": CONTACT,
        "party_contact_mechanism.name": "person",
        "party_contact_mechanism.comment": "null",
        "party_identifier.code": "code",
    },
    "company": {
        "company_company.header": "null",
        "company_company.footer": "null",
    },
    "bank": {
        "bank_account_number.number": "iban",
    },
    "account_invoice": {
        "account_invoice.comment": "null",
        "account_invoice.invoice_report_cache": "null",
        "account_invoice.invoice_report_cache_id": "null",
        "account_invoice.invoice_report_format": "null",
        "account_invoice_report_revision": "delete",
    },
    "sale": {"sale_sale.comment": "null"},
    "purchase": {"purchase_purchase.comment": "null"},
}
# columns kept equal to the normalised form of another (trytond searches them)
COMPACT = {
    ("party_contact_mechanism", "value"): "value_compact",
    ("party_identifier", "code"): "code_compact",
    ("bank_account_number", "number"): "number_compact",
}


# binary fields kept in the filestore (`<path>/<db>/ab/cd/<id>`) by the rows removed above
FILE_COLUMNS = (
    ("ir_attachment", "file_id"),
    ("ir_avatar", "image_id"),
    ("ir_avatar_cache", "image_id"),
    ("account_invoice", "invoice_report_cache_id"),
    ("account_invoice_report_revision", "invoice_report_cache_id"),
)


class NeutralizeError(DatabaseError):
    """Neutralizing was refused or failed; the database is as it was (one transaction)."""


@dataclass
class Report:
    name: str
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)  # "table.column" / "table" -> rows
    files: int = 0  # removed from the filestore
    users: int = 0  # passwords reset
    modules: list[str] = field(default_factory=list)  # whose rules applied


class Faked:
    """Consistent fake values: the same (kind, original) gives the same fake in one run."""

    def __init__(self) -> None:
        from faker import Faker

        self.faker = Faker("en_US")
        self.key = secrets.token_bytes(32)  # forgotten with this object
        self.cache: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, original: str) -> str:
        found = self.cache.get((kind, original))
        if found is None:
            digest = hmac.new(self.key, f"{kind}\0{original}".encode(), hashlib.sha256).digest()
            self.faker.seed_instance(int.from_bytes(digest[:8], "big"))
            found = FAKERS[kind](self.faker)
            self.cache[(kind, original)] = found
        return found


def module_rules(module: str) -> dict[str, str]:
    """The rules a module declares in the [neutralize] section of its tryton.cfg."""
    folder = module_dir(module)
    if folder is None or not (folder / "tryton.cfg").is_file():
        return {}
    parser = configparser.ConfigParser()
    parser.optionxform = str  # table and column names keep their case
    try:
        parser.read(folder / "tryton.cfg")
    except configparser.Error as exc:
        raise NeutralizeError(f"{folder / 'tryton.cfg'}: {exc}") from None
    if not parser.has_section(SECTION):
        return {}
    rules = dict(parser.items(SECTION))
    bad = {target: kind for target, kind in rules.items() if kind not in KINDS}
    if bad:
        target, kind = next(iter(bad.items()))
        raise NeutralizeError(
            f"{folder / 'tryton.cfg'} [{SECTION}] {target} = {kind}: unknown kind; one of "
            + ", ".join(KINDS)
        )
    return rules


def rules_for(modules: list[str]) -> dict[str, dict[str, str]]:
    """Per activated module: the built-in rules, overridden by its own tryton.cfg."""
    found = {}
    for module in modules:
        rules = {**RULES.get(module, {}), **module_rules(module)}
        if rules:
            found[module] = rules
    return found


def _targets(session: Session, rules: dict[str, str]) -> list[tuple[str, str | None, str]]:
    """(table, column or None, kind) for the rules whose table (and column) exist, history
    tables (`<table>__history`) included."""
    found = []
    for target, kind in rules.items():
        table, _, column = target.partition(".")
        for name in (table, f"{table}__history"):
            if not session.table_exists(name):
                continue
            if column and column not in session.columns(name):
                continue
            found.append((name, column or None, kind))
    return found


def _apply(session: Session, fake: Faked, table: str, column: str | None, kind: str) -> int:
    if kind == "delete" or column is None:
        count = session.scalar(f'SELECT COUNT(*) FROM "{table}"')
        session.execute(f'DELETE FROM "{table}"')
        return int(count or 0)
    if kind == "off":
        rows = session.execute(f'SELECT id FROM "{table}" WHERE "{column}" = %s', (True,))
        session.execute(f'UPDATE "{table}" SET "{column}" = %s', (False,))
        return len(rows)
    if kind == "null":
        rows = session.execute(f'SELECT id FROM "{table}" WHERE "{column}" IS NOT NULL')
        session.execute(f'UPDATE "{table}" SET "{column}" = NULL')
        return len(rows)
    base = table.removesuffix("__history")
    compact = COMPACT.get((base, column))
    if compact is not None and compact not in session.columns(table):
        compact = None
    typed = kind == CONTACT
    select = f'SELECT id, "{column}"' + (', "type"' if typed else "") + f' FROM "{table}"'
    rows = session.execute(select + f' WHERE "{column}" IS NOT NULL AND "{column}" != %s', ("",))
    for row in rows:
        value_kind = CONTACT_KINDS.get(row[2], "username") if typed else kind
        value = fake(value_kind, str(row[1]))
        sets = f'"{column}" = %s' + (f', "{compact}" = %s' if compact else "")
        params = (value, _compact(value_kind, value)) if compact else (value,)
        session.execute(f'UPDATE "{table}" SET {sets} WHERE id = %s', (*params, row[0]))
    return len(rows)


def _compact(kind: str, value: str) -> str:
    """What trytond stores beside the value for searching: no spaces (phone numbers keep
    their +, IBANs and codes their characters), e-mail addresses as they are."""
    return value if kind == "email" else value.replace(" ", "")


def _stored_files(session: Session) -> set[str]:
    """The filestore ids the rows neutralizing removes point at."""
    found: set[str] = set()
    for table, column in FILE_COLUMNS:
        if session.table_exists(table) and column in session.columns(table):
            rows = session.execute(f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
            found |= {str(row[0]) for row in rows if row[0]}
    return found


def _remove_files(store: Path, ids: set[str]) -> int:
    removed = 0
    for file_id in ids:
        if "/" in file_id or file_id in (".", ".."):
            continue
        path = store / file_id[0:2] / file_id[2:4] / file_id
        if path.is_file():
            path.unlink()
            removed += 1
    return removed


def _reset_passwords(session: Session, password: str) -> int:
    from tryton_ops.lifecycle.password import _hasher

    digest = _hasher().hash(password)
    users = session.execute("SELECT id FROM res_user WHERE id > 0")
    session.execute("UPDATE res_user SET password_hash = %s WHERE id > 0", (digest,))
    return len(users)


def mark(session: Session) -> dict | None:
    """The neutralization mark of the database, or None (not neutralized)."""
    if not session.table_exists(MARK_TABLE):
        return None
    row = session.execute(f"SELECT neutralized_at, source, details FROM {MARK_TABLE} LIMIT 1")
    if not row:
        return None
    at, source, details = row[0]
    try:
        extra = json.loads(details or "{}")
    except ValueError:
        extra = {}
    return {"at": at, "source": source, **extra}


def read_mark(config: LoadedConfig, name: str) -> dict | None:
    with connect(config, name) as session:
        return mark(session)


def _write_mark(session: Session, source: str | None, report: Report) -> None:
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {MARK_TABLE} "
        "(neutralized_at VARCHAR, source VARCHAR, details TEXT)"
    )
    session.execute(f"DELETE FROM {MARK_TABLE}")
    details = json.dumps({"modules": report.modules, "users": report.users})
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    session.execute(f"INSERT INTO {MARK_TABLE} VALUES (%s, %s, %s)", (at, source, details))


def neutralize(
    config: LoadedConfig,
    name: str,
    password: str,
    source: str | None = None,
    store: Path | None = None,
) -> Report:
    """Neutralize database `name` in one transaction, then reclaim the freed space; `store`
    is its filestore when not in its usual place (a copy being made aside)."""
    from tryton_ops.lifecycle.backup import filestore_dir

    started = time.perf_counter()
    report = Report(name)
    fake = Faked()
    touched: set[str] = set()
    with connect(config, name) as session:
        modules = activated_modules(session)
        files = _stored_files(session)
        for module, rules in rules_for(modules).items():
            report.modules.append(module)
            for table, column, kind in _targets(session, rules):
                key = f"{table}.{column}" if column else table
                report.rows[key] = _apply(session, fake, table, column, kind)
                touched.add(table)
        report.users = _reset_passwords(session, password)
        _write_mark(session, source, report)
    vacuum(config, name, sorted(touched | {"res_user"}))
    report.files = _remove_files(store or filestore_dir(config, name), files)
    report.seconds = time.perf_counter() - started
    return report


def production_names(config: LoadedConfig) -> set[str]:
    """The databases a deployment serves: the one its config names, the one its stack runs."""
    from tryton_ops.deploy.local_stack import running

    names = {config.settings.database.name}
    state = running(config)
    if state is not None:
        names.add(state.database)
    return names


def is_production(config: LoadedConfig, name: str) -> bool:
    """`name` is served by this deployment and not itself a neutralized copy."""
    from tryton_ops.access.database import database_exists

    if name not in production_names(config):
        return False
    return not database_exists(config, name) or read_mark(config, name) is None


def refuse_over_production(config: LoadedConfig, target: str, what: str) -> None:
    """A neutralized copy (`what` says which) never replaces the production database."""
    if is_production(config, target):
        raise NeutralizeError(
            f"database {target!r} is this deployment's production database and {what} is "
            "neutralized: refusing to replace production with fake data (drop it first if "
            "that is really meant)"
        )
