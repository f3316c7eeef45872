"""Prometheus metrics, aggregated through the store (deployment-wide, multi-process safe).

Each worker's writer thread turns finished records into increments (`Deltas`) and adds them
to the store with the batch: Redis `HINCRBYFLOAT` on one hash, or a JSON file under the
store's lock. Any worker of any host then serves the totals at `PATH`. Nothing lives in a
worker's memory beyond the last unsent increments, so recycled workers (gunicorn
`max_requests`) lose nothing and hosts sharing a Redis need no per-host scraping.

Label values are bounded: an unverified caller's method (unless public, like login) and a
database no verified user called become `other`, and so does any method past `MAX_METHODS` in
one process; the store resets the totals past `MAX_SERIES` series
(Prometheus handles a counter reset).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections import defaultdict

from tryton_ops.perf.options import PerfOptions

PATH = "/-/perf/metrics"
PREFIX = "tryton_ops_"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_METHODS = 500
MAX_DATABASES = 50
# what an unauthenticated caller may call, labelled as such (any other name becomes `other`)
PUBLIC_METHODS = frozenset(
    {
        "common.db.login",
        "common.db.logout",
        "common.db.reset_password",
        "common.db.list",
        "common.server.version",
        "common.server.list_lang",
        "common.authentication.services",
        "system.listMethods",
        "system.methodHelp",
        "system.methodSignature",
    }
)
MAX_SERIES = 20_000
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# family -> (type, help)
FAMILIES = {
    "rpc_duration_seconds": ("histogram", "RPC call duration, until the response was sent."),
    "rpc_errors_total": ("counter", "RPC calls that failed, by exception class or HTTP status."),
    "sql_statements_total": ("counter", "SQL statements run by RPC calls."),
    "sql_duration_seconds_total": ("counter", "Time spent in SQL statements by RPC calls."),
    "cache_lookups_total": ("counter", "trytond cache lookups during RPC calls, hit or miss."),
    "perf_records_dropped_total": ("counter", "Records dropped: buffer full or store down."),
    "perf_analyzer_errors_total": ("counter", "Errors inside the analyzer (requests unaffected)."),
    "perf_store_errors_total": ("counter", "Failed writes to or reads from the perf store."),
}


def series_key(name: str, labels: dict[str, str]) -> str:
    """How a series is named in the store: `name {"label":"value",...}`."""
    return f"{name} {json.dumps(labels, sort_keys=True, separators=(',', ':'))}"


def parse_key(key: str) -> tuple[str, dict[str, str]]:
    name, _, labels = key.partition(" ")
    return name, json.loads(labels) if labels else {}


def bucket_of(seconds: float) -> str:
    for bound in BUCKETS:
        if seconds <= bound:
            return repr(bound)
    return "+Inf"


class Deltas:
    """Increments not yet added to the store (one per writer thread)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = defaultdict(float)
        self.methods: set[str] = set()
        self.databases: set[str] = set()  # seen with a verified user

    def add(self, name: str, labels: dict[str, str], amount: float) -> None:
        if amount:
            self.values[series_key(name, labels)] += amount

    def _labels(self, record: dict) -> dict[str, str]:
        """db and method, or `other` where an unverified caller could have chosen them."""
        method = record.get("method") or "other"
        db = record.get("db") or ""
        if record.get("uid") is None:  # nobody verified: any string could come here
            if method not in PUBLIC_METHODS:
                method = "other"
            if db not in self.databases:
                db = "other"
        elif db not in self.databases and len(self.databases) < MAX_DATABASES:
            self.databases.add(db)
        if method not in self.methods:
            if len(self.methods) >= MAX_METHODS:
                method = "other"
            else:
                self.methods.add(method)
        return {"db": db if db in self.databases else "other", "method": method}

    def observe(self, record: dict, caches: dict[str, list[int]]) -> None:
        """Count one finished call; `caches` is its collector's name -> [hits, misses]."""
        labels = self._labels(record)
        seconds = record.get("duration_ms", 0) / 1000
        self.add("rpc_duration_seconds_bucket", {**labels, "le": bucket_of(seconds)}, 1)
        self.add("rpc_duration_seconds_sum", labels, seconds)  # _count is the +Inf bucket
        self.add("sql_statements_total", labels, record.get("sql_count", 0))
        self.add("sql_duration_seconds_total", labels, record.get("sql_ms", 0) / 1000)
        status = record.get("status") or 0
        if record.get("error") or status >= 400:
            error = record.get("error") or f"HTTP {status}"
            self.add("rpc_errors_total", {**labels, "error": error}, 1)
        db = labels["db"]
        for name, (hits, misses) in caches.items():
            self.add("cache_lookups_total", {"db": db, "cache": name, "result": "hit"}, hits)
            self.add("cache_lookups_total", {"db": db, "cache": name, "result": "miss"}, misses)

    def take(self) -> dict[str, float]:
        values = dict(self.values)
        self.values.clear()
        return values

    def give_back(self, values: dict[str, float]) -> None:
        """A push failed: keep the increments for the next one (bounded by the series)."""
        for key, amount in values.items():
            self.values[key] += amount


# -- serving --------------------------------------------------------------------------------
def access(environ, options: PerfOptions) -> tuple[int, str]:
    """(HTTP status, reason): a token, if configured, is required; else an allowed network."""
    if options.metrics_token:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return 401, "a bearer token is required"
        if not hmac.compare_digest(given.strip().encode(), options.metrics_token.encode()):
            return 403, "wrong token"
        return 200, ""
    return network_access(environ, options.metrics_networks)


def network_access(environ, networks: list[str]) -> tuple[int, str]:
    """(200, "") when the client address (`REMOTE_ADDR`) is in one of `networks`, else 403
    and why: the front's allowed-networks rule, for the paths trytond serves itself."""
    try:
        address = ipaddress.ip_address(environ.get("REMOTE_ADDR", "").split("%", 1)[0])
    except ValueError:
        return 403, "unknown client address"
    for network in networks:
        try:
            if address in ipaddress.ip_network(network.strip(), strict=False):
                return 200, ""
        except ValueError:
            continue
    return 403, "client address not in the allowed networks"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items())) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(values: dict[str, float]) -> str:
    """The Prometheus text exposition format of the stored totals."""
    families: dict[str, list[str]] = defaultdict(list)
    histograms: dict[str, dict] = {}
    for key, value in sorted(values.items()):
        try:
            name, labels = parse_key(key)
        except ValueError:
            continue
        if name.startswith("rpc_duration_seconds_"):
            ident = json.dumps({k: v for k, v in labels.items() if k != "le"}, sort_keys=True)
            entry = histograms.setdefault(ident, {"buckets": {}, "sum": 0.0})
            if name.endswith("_bucket"):
                entry["buckets"][labels.get("le")] = value
            else:
                entry["sum"] = value
            continue
        if name in FAMILIES:
            families[name].append(f"{PREFIX}{name}{_labels(labels)} {_number(value)}")
    lines = []
    for ident, entry in sorted(histograms.items()):
        labels = json.loads(ident)
        running = 0.0
        for bound in [*map(repr, BUCKETS), "+Inf"]:
            running += entry["buckets"].get(bound, 0)
            lines.append(
                f"{PREFIX}rpc_duration_seconds_bucket{_labels({**labels, 'le': bound})} "
                f"{_number(running)}"
            )
        lines.append(f"{PREFIX}rpc_duration_seconds_sum{_labels(labels)} {_number(entry['sum'])}")
        lines.append(f"{PREFIX}rpc_duration_seconds_count{_labels(labels)} {_number(running)}")
    families["rpc_duration_seconds"] = lines
    out = []
    for name, (kind, text) in FAMILIES.items():
        out.append(f"# HELP {PREFIX}{name} {text}")
        out.append(f"# TYPE {PREFIX}{name} {kind}")
        out.extend(families.get(name, ()))
    return "\n".join(out) + "\n"
