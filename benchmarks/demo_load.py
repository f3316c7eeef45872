"""`demo load` time per scale, on SQLite and PostgreSQL (the workload of docs/capacity.md).

    .venv/8.2/bin/python benchmarks/demo_load.py [--scales 1,10] [--backends postgresql,sqlite]

For each backend, in a fresh data directory (PostgreSQL: a private server on a free port):
the workload's modules activated once by `db init` (timed apart; kept as a template), then
for each scale a fresh copy of it, a `demo load` at that scale and a repeated load at the same
scale (the idempotence check: nothing created). Printed: seconds per step and the records
created. Not run in CI.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from tryton_ops.admin.init import init_database
from tryton_ops.admin.password import resolve
from tryton_ops.capacity import modules, workload
from tryton_ops.testing.databases import make_config
from tryton_ops.testing.servers import PostgresServer


def bench(backend: str, scales: list[int]) -> None:
    server = PostgresServer().start() if backend == "postgresql" else None
    try:
        uri = server.uri if server else "sqlite://"
        config = make_config(
            Path(tempfile.mkdtemp(prefix="bench-demo-")), {"database": {"uri": uri}}
        )
        password = resolve(config)
        for scale in scales:
            started = time.perf_counter()
            name = f"demo{scale}"
            init_database(config, name, password, list(modules.MODULES))
            print(f"{backend:10} scale {scale:<3} db init  {time.perf_counter() - started:7.1f} s")
            for label in ("load", "again"):
                result = workload.load(config, name, scale)
                seconds = f"{result.seconds:7.1f} s"
                print(f"{backend:10} scale {scale:<3} {label:7} {seconds}  {result.created}")
    finally:
        if server:
            server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,10")
    parser.add_argument("--backends", default="postgresql,sqlite")
    args = parser.parse_args()
    scales = sorted(int(s) for s in args.scales.split(","))
    print(f"trytond {version('trytond')}, Python {sys.version.split()[0]}")
    for backend in args.backends.split(","):
        bench(backend, scales)


if __name__ == "__main__":
    main()
