"""tryton_ops.client vs raw JSON-RPC and Tryton's proteus and naiad, side by side in one run.

    .venv/8.2/bin/pip install -e ./client -e '.[bench]'  # proteus and naiad of the trytond series
    .venv/8.2/bin/python benchmarks/client.py [--parties 1000] [--updates 200] [--rounds 3]

One `party` database with `--parties` parties, each with two addresses, served by gunicorn with
2 sync workers. Each contender reads every party (name, code) with its addresses (street, city,
postal code), then renames `--updates` of them:

- raw: one `search_read` with dotted fields over httpx, decoded (the floor for that data); the
  update is one `write` call with all (ids, values) pairs;
- proteus (Tryton's client library): `set_xmlrpc_session` (XML-RPC with a session),
  `Party.find([])`, attribute access, `save()` per record, as a proteus script does;
- naiad (Tryton's REST client, `tryton-naiad`): one `search` with dotted fields into its records,
  then `store()` per record (REST has no multi-record write), with a user application key;
- client lazy: `Party.find([])` then attribute access (values load per group, in batches);
- client fields: `Party.find([], fields=[...])`: one `search_read` filled into records;
- asyncio x8: `AsyncClient`, 8 concurrent tasks each reading and updating an eighth;
- client REST: `RestClient` with the same key, the same calls as naiad.

Each contender checks it read the same data as the raw call. Best of `--rounds` (proteus: one
round, it is slow). Client and server share the machine's CPUs. Without a naiad for the trytond
series installed, its rows are left out with a message saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import trytond

from tryton_ops.client import AsyncClient, Client, RestClient, types
from tryton_ops.client.transport import Auth
from tryton_ops.testing.databases import DatabaseTemplates
from tryton_ops.testing.servers import PostgresServer
from tryton_ops.testing.stack import TestStack

PARTY_FIELDS = ["name", "code"]
ADDRESS_FIELDS = ["street", "city", "postal_code"]
DOTTED = PARTY_FIELDS + [f"addresses.{f}" for f in ADDRESS_FIELDS]
TASKS = 8


def populate(session: Client, count: int) -> None:
    Party = session.model("party.party")
    for start in range(0, count, 250):
        Party.create(
            [
                {
                    "name": f"Party {i}",
                    "addresses": [
                        (
                            "create",
                            [
                                {"street": f"{i} Main St", "city": "Liège", "postal_code": "4000"},
                                {"street": f"{i} Side St", "city": "Namur", "postal_code": "5000"},
                            ],
                        )
                    ],
                }
                for i in range(start, min(start + 250, count))
            ]
        )


def digest(parties) -> tuple:
    """What was read, reduced to compare contenders: (parties, addresses, characters, names);
    names are only counted, as contenders rename parties."""
    addresses = [a for p in parties for a in p[2]]
    chars = sum(len(p[1] or "") for p in parties)
    chars += sum(len(a[0] or "") + len(a[1] or "") + len(a[2] or "") for a in addresses)
    return len(parties), len(addresses), chars, sum(bool(p[0]) for p in parties)


def of_records(parties) -> tuple:
    return digest(
        [
            (p.name, p.code, [(a.street, a.city, a.postal_code) for a in p.addresses])
            for p in parties
        ]
    )


# --- contenders -----------------------------------------------------------------------------


class Raw:
    name = "raw JSON-RPC"

    def __init__(self, stack: TestStack, auth: Auth, context: dict):
        self.url = f"{stack.url}/{stack.database.name}/rpc/"
        self.http = httpx.Client(
            headers={
                "Authorization": auth.header(),
                "Accept-Encoding": "gzip",
                "Content-Type": "application/json",
            }
        )
        self.context = context

    def call(self, method: str, *params):
        body = types.dumps({"id": 1, "method": method, "params": [*params, self.context]})
        return types.loads(self.http.post(self.url, content=body).content)["result"]

    def read(self) -> tuple:
        rows = self.call("model.party.party.search_read", [], 0, None, None, DOTTED)
        self.ids = [r["id"] for r in rows]
        return digest(
            [
                (
                    r["name"],
                    r["code"],
                    [(a["street"], a["city"], a["postal_code"]) for a in r["addresses."]],
                )
                for r in rows
            ]
        )

    def update(self, count: int, tag: str) -> None:
        args = []
        for i in self.ids[:count]:
            args += [[i], {"name": f"raw {tag} {i}"}]
        self.call("model.party.party.write", *args)


class Proteus:
    name = "proteus XML-RPC"

    def __init__(self, stack: TestStack):
        from proteus import config

        self.session = config.set_xmlrpc_session(
            f"{stack.url}/{stack.database.name}/rpc/", "admin", stack.database.password
        )
        self.session.__enter__()

    def read(self) -> tuple:
        from proteus import Model

        Party = Model.get("party.party")
        self.parties = Party.find([])
        return of_records(self.parties)

    def update(self, count: int, tag: str) -> None:
        for party in self.parties[:count]:
            party.name = f"proteus {tag} {party.id}"
            party.save()


def rest_key(session: Client) -> str:
    """A validated key of application 'rest' for the session's user (see docs/client.md)."""
    Application = session.model("res.user.application")
    [app] = Application.create([{"user": session.user_id, "application": "rest"}])
    return Application.read([app], ["key"])[0]["key"]


def of_rows(rows: list[dict]) -> tuple:
    return digest(
        [
            (
                r["name"],
                r["code"],
                [(a["street"], a["city"], a["postal_code"]) for a in r["addresses"]],
            )
            for r in rows
        ]
    )


def naiad_missing() -> str | None:
    """Why naiad cannot run here, or None: it is installed and made for this trytond series."""
    try:
        import naiad
    except ImportError:
        return "tryton-naiad is not installed: pip install 'tryton-naiad==<trytond series>.*'"
    series = trytond.__version__.rsplit(".", 1)[0]
    if naiad.__version__.rsplit(".", 1)[0] != series:
        return f"tryton-naiad {naiad.__version__} is not of the trytond {series} series"
    return None


class Naiad:
    name = "naiad REST"

    def __init__(self, stack: TestStack, key: str):
        import naiad

        url = f"{stack.url}/{stack.database.name}"
        self.client = naiad.Client(url, key, timeout=httpx.Timeout(120))

    def read(self) -> tuple:
        self.parties = self.client.search("party.party", [], fields=DOTTED)
        return of_records(self.parties)

    def update(self, count: int, tag: str) -> None:
        for party in self.parties[:count]:
            party.name = f"naiad {tag} {party.id}"
            self.client.store(party)


class ClientRest:
    name = "client REST"

    def __init__(self, stack: TestStack, key: str):
        self.rest = RestClient(stack.url, stack.database.name, key, timeout=120)

    def read(self) -> tuple:
        self.rows = self.rest.model("party.party").search([], fields=DOTTED)
        return of_rows(self.rows)

    def update(self, count: int, tag: str) -> None:
        Party = self.rest.model("party.party")
        for row in self.rows[:count]:
            Party.update(row["id"], {"name": f"rest {tag} {row['id']}"})


class ClientLazy:
    name = "client records, lazy"

    def __init__(self, stack: TestStack, fields: list[str] | None = None):
        self.session = Client(stack.url, stack.database.name)
        self.session.login("admin", stack.database.password)
        self.fields = fields
        if fields:
            self.name = "client records, fields="

    def read(self) -> tuple:
        self.session._records.clear()  # a fresh read each round, not the identity map's copy
        self.parties = self.session.model("party.party").find([], fields=self.fields)
        return of_records(self.parties)

    def update(self, count: int, tag: str) -> None:
        chosen = self.parties[:count]
        for party in chosen:
            party.name = f"client {tag} {party.id}"
        self.session.model("party.party").save(chosen)


class ClientAsync:
    name = f"client asyncio x{TASKS}"

    def __init__(self, stack: TestStack):
        self.stack = stack
        self.loop = asyncio.new_event_loop()
        self.session = AsyncClient(stack.url, stack.database.name)
        self.loop.run_until_complete(self.session.login("admin", stack.database.password))

    def read(self) -> tuple:
        return self.loop.run_until_complete(self._read())

    async def _read(self) -> tuple:
        self.session._records.clear()
        Party = self.session.model("party.party")
        ids = await Party.search([])
        chunks = [ids[i::TASKS] for i in range(TASKS)]
        parts = await asyncio.gather(
            *(Party.find([("id", "in", c)], fields=DOTTED) for c in chunks)
        )
        self.parties = sorted((p for part in parts for p in part), key=lambda p: p.id)
        return of_records(self.parties)

    def update(self, count: int, tag: str) -> None:
        self.loop.run_until_complete(self._update(count, tag))

    async def _update(self, count: int, tag: str) -> None:
        Party = self.session.model("party.party")
        chosen = self.parties[:count]
        for party in chosen:
            party.name = f"async {tag} {party.id}"
        await asyncio.gather(*(Party.save(chosen[i::TASKS]) for i in range(TASKS)))


def timed(function: Callable[[], object]) -> tuple[float, object]:
    began = time.perf_counter()
    result = function()
    return time.perf_counter() - began, result


def measure(contender, rounds: int, updates: int, expected: tuple | None) -> dict:
    best_read = best_update = float("inf")
    for n in range(rounds):
        seconds, got = timed(contender.read)
        if expected is not None and got != expected:
            raise SystemExit(f"{contender.name} read {got}, expected {expected}")
        best_read = min(best_read, seconds)
        seconds, _ = timed(lambda n=n: contender.update(updates, str(n)))
        best_update = min(best_update, seconds)
    return {"read": best_read, "update": best_update, "digest": got}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parties", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="client-bench-"))
    postgres = PostgresServer().start()
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        database = templates.copy("postgresql", ("party",), base / "db")
        with TestStack(database, workers=2) as stack:
            results = run(stack, args)
    finally:
        postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)
    report(results, args)


def run(stack: TestStack, args) -> dict:
    setup = Client(stack.url, stack.database.name)
    setup.login("admin", stack.database.password)
    populate(setup, args.parties)
    raw = Raw(stack, setup.auth, setup.context)
    results = {raw.name: measure(raw, args.rounds, args.updates, None)}
    expected = results[raw.name]["digest"]
    key = rest_key(setup)
    contenders = [
        ClientLazy(stack),
        ClientLazy(stack, DOTTED),
        ClientAsync(stack),
        ClientRest(stack, key),
    ]
    if (missing := naiad_missing()) is None:
        contenders.append(Naiad(stack, key))
    else:
        print(f"... naiad left out: {missing}", flush=True)
    for contender in contenders:
        print(f"... {contender.name}", flush=True)
        results[contender.name] = measure(contender, args.rounds, args.updates, expected)
    print("... proteus (one round)", flush=True)
    results["proteus XML-RPC"] = measure(Proteus(stack), 1, args.updates, expected)
    return results


def report(results: dict, args) -> None:
    raw = results["raw JSON-RPC"]
    official = [n for n in ("proteus XML-RPC", "naiad REST") if n in results]
    print(f"\nread {args.parties} parties with 2 addresses each, then update {args.updates}")
    print(f"trytond {trytond.__version__}; <client>/x: how many times faster x is than <client>")
    ratios = " ".join(f"{n.split()[0] + '/x':>10}" for n in official)
    head = f"{'x raw':>6} {ratios}"
    print(f"{'contender':24} {'read s':>8} {head} {'update s':>9} {head}")
    for name, r in results.items():
        row = f"{name:24}"
        for op in ("read", "update"):
            row += f" {r[op]:{8 if op == 'read' else 9}.3f} {r[op] / raw[op]:6.2f}"
            row += "".join(f" {results[n][op] / r[op]:10.3g}" for n in official)
        print(row)


if __name__ == "__main__":
    main()
