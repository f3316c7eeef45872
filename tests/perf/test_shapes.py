import pytest

from tryton_ops.config.durations import format_duration, parse_duration
from tryton_ops.perf.shapes import shape, tables


def test_shape_removes_values_and_collapses_lists():
    a = shape('SELECT "a"."id" FROM "party_party" AS "a" WHERE ("a"."id" IN (%s, %s, %s))')
    b = shape('SELECT "a"."id" FROM "party_party" AS "a" WHERE ("a"."id" IN (%s))')
    assert a == b == 'SELECT "a"."id" FROM "party_party" AS "a" WHERE ("a"."id" IN (...))'
    literal = shape('UPDATE "t" SET "name" = \'secret value\' WHERE id = 42')
    assert "secret" not in literal and "42" not in literal
    rows = shape('INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?), (?, ?)')
    assert rows == shape('INSERT INTO "t" ("a", "b") VALUES (?, ?)')
    assert rows == 'INSERT INTO "t" ("a", "b") VALUES (...)'


def test_tables_skip_functions_and_keep_order():
    sql = (
        'SELECT EXTRACT(EPOCH FROM COALESCE("a"."write_date")) FROM "party_party" AS "a" '
        'LEFT JOIN "party_address" AS "b" ON ("b"."party" = "a"."id") '
        'WHERE "a"."id" IN (SELECT "c"."id" FROM "party_party" AS "c")'
    )
    assert tables(sql) == ["party_party", "party_address"]
    assert tables('UPDATE "ir_session" SET "x" = %s') == ["ir_session"]
    upsert = (
        'INSERT INTO "ir_cache" ("name") VALUES (%s) ON CONFLICT ("name") DO UPDATE SET "x" = 1'
    )
    assert tables(upsert) == ["ir_cache"]
    cte = 'WITH "c" AS (SELECT "id" FROM "res_group") SELECT * FROM "c" JOIN "res_user" ON 1'
    assert tables(cte) == ["res_group", "res_user"]
    assert tables('INSERT INTO "res_user_login_attempt" ("a") VALUES (%s)') == [
        "res_user_login_attempt"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30m", 1800), ("1h30m", 5400), ("7d", 604800), ("45", 45)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "-5", "0", "5m3"])
def test_invalid_durations(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)
