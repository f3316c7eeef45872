"""`db init` from the template cache vs from scratch (trytond-admin), on SQLite and PostgreSQL.

    .venv/8.2/bin/python benchmarks/db_init.py [--modules party] [--rounds 3]
        [--backends sqlite,postgresql]

For each backend, in a fresh data directory (PostgreSQL: a private server on a free port):
the first `db init` builds the database with trytond-admin and saves it as a template; then
`--rounds` more inits of the same module set are copies of that template. Also times
`--no-template` inits (what the first costs every time without the cache). Printed: seconds
of each, and the ratio first / median template init. Not run in CI.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from tryton_ops.lifecycle.init import init_database
from tryton_ops.lifecycle.password import resolve
from tryton_ops.testing.databases import make_config
from tryton_ops.testing.servers import PostgresServer


def bench(backend: str, modules: list[str], rounds: int) -> dict:
    server = PostgresServer().start() if backend == "postgresql" else None
    try:
        uri = server.uri if server else "sqlite://"
        config = make_config(
            Path(tempfile.mkdtemp(prefix="bench-init-")), {"database": {"uri": uri}}
        )
        password = resolve(config)
        first = init_database(config, "first", password, modules)
        assert not first.from_template
        copies = []
        for i in range(rounds):
            result = init_database(config, f"copy{i}", password, modules)
            assert result.from_template
            copies.append(result.seconds)
        scratch = init_database(config, "scratch", password, modules, use_template=False)
        return {"first": first.seconds, "copies": copies, "scratch": scratch.seconds}
    finally:
        if server:
            server.destroy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--modules", default="party")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    modules = args.modules.split(",")
    print(f"trytond {version('trytond')}, Python {sys.version.split()[0]}, modules {modules}")
    for backend in args.backends.split(","):
        r = bench(backend, modules, args.rounds)
        median = statistics.median(r["copies"])
        print(
            f"{backend:10} first init {r['first']:6.2f} s | from template: median {median:5.2f} s "
            f"({', '.join(f'{s:.2f}' for s in r['copies'])}) | no-template init "
            f"{r['scratch']:6.2f} s | speed-up x{r['first'] / median:.1f} (first), "
            f"x{r['scratch'] / median:.1f} (no-template)"
        )


if __name__ == "__main__":
    main()
