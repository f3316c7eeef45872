"""SQL statement shapes: the statement with its varying parts removed, and the tables it uses.

trytond builds SQL with python-sql, so values are already parameters; what still varies between
two executions of "the same" statement is the length of `IN (...)` lists and of multi-row
`VALUES`. Shapes make N+1 patterns visible and never contain a value.
"""

from __future__ import annotations

import re

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w\"])-?\d+(?:\.\d+)?(?![\w\"])")
_PARAM = re.compile(r"%s|\?|\$\d+|%\(\w+\)s")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROWS = re.compile(r"\(\.\.\.\)(?:\s*,\s*\(\.\.\.\))+")
_SPACE = re.compile(r"\s+")
_TABLE = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO|TABLE)\s+(?:ONLY\s+)?\"?([A-Za-z_][A-Za-z0-9_]*)\b\"?(?!\s*\()",
    re.IGNORECASE,
)
_NOT_TABLES = frozenset({"select", "lateral", "unnest", "generate_series", "values", "set"})
_CTE = re.compile(
    r"(?:\bWITH\s+(?:RECURSIVE\s+)?|,\s*)\"?([A-Za-z_][A-Za-z0-9_]*)\"?\s+AS\s*\(", re.I
)
MAX_SHAPE = 4000


def shape(sql: str) -> str:
    """Normalized statement: literals and parameters become `?`, lists collapse to `(...)`."""
    text = _STRING.sub("?", sql)
    text = _PARAM.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _LIST.sub("(...)", text)
    text = _ROWS.sub("(...)", text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > MAX_SHAPE:
        text = text[:MAX_SHAPE] + " …"
    return text


def tables(sql: str) -> list[str]:
    """Tables a statement reads or writes, in order of first appearance."""
    found: list[str] = []
    ctes = set(_CTE.findall(sql)) if "WITH" in sql.upper() else ()
    for name in _TABLE.findall(sql):
        if name.lower() not in _NOT_TABLES and name not in found and name not in ctes:
            found.append(name)
    return found


def as_text(query) -> str:
    """SQL text of what a cursor received (str, bytes or psycopg `sql.Composable`)."""
    if isinstance(query, str):
        return query
    if isinstance(query, bytes):
        return query.decode("utf-8", "replace")
    return f"<{type(query).__name__}>"
