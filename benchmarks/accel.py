"""Accelerators vs stock trytond, side by side in one run (PostgreSQL, gunicorn, 2 workers).

    .venv/8.2/bin/python benchmarks/accel.py [--seconds 5] [--rounds 3] [--clients 2] [--no-gzip]

One copy of a `party` database with 200 parties (each with an address, an e-mail and a
category) is served in turn by: stock trytond, each accelerator alone, and all accelerators.
For each setting, a gunicorn stack with 2 sync workers is started, warmed, then `--clients`
client threads (raw HTTP keep-alive connections; the body is read, not decoded, so that the
client spends little CPU) call each operation for `--seconds`, best of `--rounds`:

- fields_view_get: `party.party` form view (cached by trytond: mostly JSON encoding);
- search_read 200: 200 parties with the fields of a list view plus relations;
- read 20: 20 parties with the fields of the form view.

Printed per operation: requests/s, server CPU per call (user+system CPU of the workers over
the run, divided by the calls) and the response size; then the ratios against stock.
Clients send `Accept-Encoding: gzip` as Tryton's clients do (`--no-gzip` to not).
Sizes are small for a 2-core machine where client and server share the CPUs; not run in CI.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from tryton_ops.accel import ACCELERATORS
from tryton_ops.client import types
from tryton_ops.testing.databases import DatabaseTemplates
from tryton_ops.testing.servers import PostgresServer
from tryton_ops.testing.stack import TestStack

LIST_FIELDS = ["name", "code", "active", "lang", "categories", "addresses", "contact_mechanisms"]
LIST_FIELDS += ["email", "phone", "create_date", "write_date", "rec_name"]
FORM_FIELDS = [*LIST_FIELDS, "identifiers", "replaced_by", "create_uid", "write_uid", "full_name"]


def operations(party_ids: list[int]) -> dict[str, tuple[str, list]]:
    return {
        "fields_view_get": ("model.party.party.fields_view_get", [None, "form", {}]),
        "search_read 200": (
            "model.party.party.search_read",
            [[], 0, 200, [["id", "ASC"]], LIST_FIELDS, {}],
        ),
        "read 20": ("model.party.party.read", [party_ids[:20], FORM_FIELDS, {}]),
    }


def populate(conn, count: int = 200) -> list[int]:
    (category,) = conn.call("model.party.category.create", [{"name": "Customers"}], {})
    values = [
        {
            "name": f"Party {i:04d}",
            "code": f"B{i:04d}",
            "categories": [("add", [category])],
            "addresses": [("create", [{"street": f"{i} Main Street", "city": "Liège"}])],
            "contact_mechanisms": [("create", [{"type": "email", "value": f"p{i}@example.com"}])],
        }
        for i in range(count)
    ]
    ids: list[int] = []
    for start in range(0, count, 100):
        ids += conn.call("model.party.party.create", values[start : start + 100], {})
    return ids


class Caller:
    """A keep-alive HTTP connection posting one JSON-RPC call, body read but not decoded."""

    def __init__(self, conn, gzip_ok: bool):
        parts = urlsplit(conn.url)
        self.http = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.path = f"/{conn.database}/rpc/"
        token = f"{conn.login_name}:{conn.user_id}:{conn.session}".encode()
        self.headers = {
            "Content-Type": "application/json",
            "Authorization": "Session " + base64.b64encode(token).decode(),
        }
        if gzip_ok:
            self.headers["Accept-Encoding"] = "gzip"

    def call(self, method: str, params: list) -> int:
        body = types.dumps({"id": 1, "method": method, "params": params})
        self.http.request("POST", self.path, body=body, headers=self.headers)
        resp = self.http.getresponse()
        data = resp.read()
        if resp.status != 200 or b'"error":' in data[:40]:
            raise RuntimeError(f"{method}: HTTP {resp.status}: {data[:200]!r}")
        return len(data)


def worker_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def run_op(stack: TestStack, callers: list[Caller], op: tuple[str, list], seconds: float) -> dict:
    counts = [0] * len(callers)
    sizes = [0] * len(callers)
    deadline = time.perf_counter() + seconds

    def loop(index: int) -> None:
        caller = callers[index]
        while time.perf_counter() < deadline:
            sizes[index] = caller.call(*op)
            counts[index] += 1

    pids = stack.worker_pids()
    cpu0, began = worker_cpu(pids), time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(callers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu = time.perf_counter() - began, worker_cpu(pids) - cpu0
    calls = sum(counts)
    return {"rps": calls / elapsed, "cpu_ms": 1000 * cpu / calls, "bytes": max(sizes)}


def measure(database, accel: dict, party_ids: list[int], args) -> dict:
    stack = TestStack(database, workers=2, accel=accel).start()
    try:
        conn = stack.connect()
        callers = [Caller(conn, not args.no_gzip) for _ in range(args.clients)]
        ops = operations(party_ids)
        for _ in range(20):  # warm both workers (caches, views)
            for caller in callers:
                for op in ops.values():
                    caller.call(*op)
        results = {}
        for name, op in ops.items():
            runs = [run_op(stack, callers, op, args.seconds) for _ in range(args.rounds)]
            results[name] = max(runs, key=lambda r: r["rps"])
        return results
    finally:
        stack.stop()


def settings() -> dict[str, dict]:
    off = {name: False for name in ACCELERATORS}
    out = {"stock": off}
    for name in ACCELERATORS:
        out[name] = {**off, name: True}
    if len(ACCELERATORS) > 1:
        out["all"] = {name: True for name in ACCELERATORS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--no-gzip", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="accel-bench-"))
    postgres = PostgresServer().start()
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        database = templates.copy("postgresql", ("party",), base / "db")
        setup = TestStack(database, workers=1).start()
        try:
            party_ids = populate(setup.connect())
        finally:
            setup.stop()
        results = {}
        for name, accel in settings().items():
            print(f"... {name}", flush=True)
            results[name] = measure(database, accel, party_ids, args)
    finally:
        postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)
    report(results, args)


def report(results: dict, args) -> None:
    names = list(results)
    ops = list(results["stock"])
    gzip_note = "no gzip" if args.no_gzip else "Accept-Encoding: gzip"
    rounds = f"best of {args.rounds} x {args.seconds} s"
    print(f"\n{args.clients} clients, 2 workers, {gzip_note}, {rounds}")
    header = f"{'operation':18}{'setting':16}{'req/s':>9}{'CPU ms/call':>13}{'bytes':>9}"
    print(header)
    for op in ops:
        for name in names:
            r = results[name][op]
            print(f"{op:18}{name:16}{r['rps']:9.1f}{r['cpu_ms']:13.2f}{r['bytes']:9d}")
    print("\nratios against stock (throughput; server CPU per call)")
    for op in ops:
        stock = results["stock"][op]
        for name in names[1:]:
            r = results[name][op]
            print(
                f"  {op:18}{name:16}{r['rps'] / stock['rps']:6.2f}x req/s"
                f"   {stock['cpu_ms'] / r['cpu_ms']:6.2f}x less CPU"
            )
    print(json.dumps({"results": results}, sort_keys=True))


if __name__ == "__main__":
    main()
