"""Redis sessions on a real 2-worker stack: fewer SQL statements per call, switching stores."""

from __future__ import annotations

import statistics
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tryton_ops.access import database as sql
from tryton_ops.client import Connection
from tryton_ops.client.errors import TransportError

from ..perf.helpers import wait_records

MODULES = ("ops_session",)  # ir and res only: the quickest template
PERF = {"enabled": True, "store": "file", "flush_interval_ms": 100}
SEARCH_READ = "model.res.user.search_read"
CALLS = 8


def calls_sql(stack, conn: Connection) -> list[tuple[int, int]]:
    """(statements, transactions) of CALLS authenticated search_read calls, from the analyzer."""
    for _ in range(CALLS):
        conn.call(SEARCH_READ, [], 0, 10, None, ["login"], {})

    def done(records):
        return sum(r["method"] == SEARCH_READ for r in records) >= CALLS

    records = wait_records(stack.config, done)
    return [
        (r["sql_count"], r["transactions"])
        for r in records
        if r["method"] == SEARCH_READ and r["status"] == 200
    ]


def same_session_on(stack, conn: Connection) -> Connection:
    """The session of `conn`, presented to another stack."""
    moved = Connection(stack.url, conn.database)
    moved.auth = conn.auth
    return moved


def ir_session_rows(database) -> int:
    with sql.connect(database.config, database.name) as session:
        return session.scalar("SELECT COUNT(*) FROM ir_session")


def test_fewer_statements_and_switching_stores(
    db_backend, make_trytond_db, tryton_stack, redis_server
):
    database = make_trytond_db(db_backend, MODULES)
    stock = tryton_stack(database, perf=PERF)
    stock_admin = stock.connect()
    stock_sql = calls_sql(stock, stock_admin)
    assert ir_session_rows(database) >= 1
    stock.stop()

    ours = tryton_stack(
        database, perf=PERF, redis={"uri": redis_server.uri}, sessions={"store": "redis"}
    )
    # switching on: the table's sessions are no longer accepted (the client is asked to log
    # in again), and logging in works at once: no lockout
    with pytest.raises(TransportError) as refused:
        same_session_on(ours, stock_admin).call(SEARCH_READ, [], 0, 1, None, ["login"], {})
    assert refused.value.status == 401
    admin = ours.connect()
    ours_sql = calls_sql(ours, admin)
    assert ir_session_rows(database) == 0  # purged: they cannot come back when switched off

    stock_median = statistics.median(n for n, _ in stock_sql)
    ours_median = statistics.median(n for n, _ in ours_sql)
    print(
        f"\n{db_backend}: SQL statements per authenticated res.user search_read "
        f"(median of {CALLS}, perf analyzer): stock sessions {stock_median}, "
        f"Redis sessions {ours_median}; (statements, transactions) of each call: "
        f"stock {stock_sql}, Redis {ours_sql}"
    )
    assert ours_median < stock_median
    assert min(n for n, _ in ours_sql) < min(n for n, _ in stock_sql)

    if db_backend != "sqlite":
        return  # switching off does not depend on the backend
    # switching off: Redis sessions are unknown to trytond's table; logging in works
    ours.stop()
    back = tryton_stack(database)
    with pytest.raises(TransportError) as refused:
        same_session_on(back, admin).call(SEARCH_READ, [], 0, 1, None, ["login"], {})
    assert refused.value.status == 401
    assert len(back.connect().call(SEARCH_READ, [], 0, 1, None, ["login"], {})) == 1


STALE_SESSIONS = 20000  # enough that the first purges of fresh workers overlap
FIRST_LOGINS = 8


@pytest.mark.one_series  # our purge, the same on every series
def test_fresh_workers_purging_at_once_lose_no_login(
    db_backend, make_trytond_db, tryton_stack, redis_server
):
    """Each worker purges ir_session at its first Redis login; purges that overlap (PostgreSQL
    refuses the second one: "could not serialize access due to concurrent delete") must not
    fail the login, which trytond does not retry."""
    database = make_trytond_db(db_backend, MODULES)
    with sql.connect(database.config, database.name) as session:
        session.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %s) "
            "INSERT INTO ir_session (key, create_uid, create_date) "
            "SELECT 'stale' || i, 0, CURRENT_TIMESTAMP FROM n",
            (STALE_SESSIONS,),
        )
    assert ir_session_rows(database) == STALE_SESSIONS
    ours = tryton_stack(
        database, workers=4, redis={"uri": redis_server.uri}, sessions={"store": "redis"}
    )
    start = threading.Barrier(FIRST_LOGINS)

    def first_login(_: int) -> list[dict]:
        conn = ours.connect(login=False)
        start.wait()
        conn.login("admin", database.password)
        return conn.call(SEARCH_READ, [("login", "=", "admin")], 0, 1, None, ["login"], {})

    with ThreadPoolExecutor(FIRST_LOGINS) as pool:
        answers = list(pool.map(first_login, range(FIRST_LOGINS)))
    # admin's id differs by series (1 on 8.0, 3 on 8.2): each login read the same one row
    assert [[row["login"] for row in answer] for answer in answers] == [["admin"]] * FIRST_LOGINS
    assert len({answer[0]["id"] for answer in answers}) == 1
    assert ir_session_rows(database) == 0
