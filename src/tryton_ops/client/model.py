"""`session.model('party.party')`: the model's RPC methods, and records built on them.

The RPC mirrors (`search`, `read`, `write`, ...) take and return ids and dicts, as the server
does; records are accepted wherever ids are. The record API (`find`, `browse`, `fetch`, `new`,
`save`, `iterate`) returns `Record` objects. Reads of long id lists are split into batches of
`session.batch_size` (sent concurrently under asyncio); writes stay one call, hence atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tryton_ops.client import types
from tryton_ops.client.record import X2MANY, Record, fill, server_value
from tryton_ops.client.session import Op, Parallel
from tryton_ops.client.transport import Call

if TYPE_CHECKING:
    from tryton_ops.client.session import Session

Domain = list
TIMESTAMP = "_timestamp"


def ids_of(records: Iterable[Record | int]) -> list[int]:
    return [r.id if isinstance(r, Record) else r for r in records]


class Model:
    """One model of one session, with an optional context added to every call."""

    def __init__(self, session: Session, name: str, context: dict[str, Any] | None = None):
        self.session = session
        self.name = name
        self.context = dict(context or {})

    def __repr__(self) -> str:
        return f"Model({self.name!r})"

    def with_context(self, **context: Any) -> Model:
        return Model(self.session, self.name, {**self.context, **context})

    # --- RPC mirrors --------------------------------------------------------------------------

    def call(self, method: str, *args: Any, context: dict[str, Any] | None = None):
        """Any RPC method of the model (buttons, actions): ids may be given as records."""
        args = tuple(ids_of(a) if _is_record_list(a) else a for a in args)
        return self._run(self._g_call(method, args, context))

    def fields_get(self):
        return self.session.fields_get(self.name)

    def search(self, domain: Domain, offset: int = 0, limit: int | None = None, order=None):
        return self.call("search", domain, offset, limit, order)

    def search_count(self, domain: Domain):
        return self.call("search_count", domain)

    def search_read(
        self, domain: Domain, offset: int = 0, limit: int | None = None, order=None, fields=None
    ):
        return self.call("search_read", domain, offset, limit, order, fields)

    def read(self, ids: Iterable[Record | int], fields: list[str]):
        return self._run(self._g_read(ids_of(ids), fields))

    def create(self, values: list[dict[str, Any]]):
        return self.call("create", values)

    def write(self, ids: Iterable[Record | int], values: dict[str, Any]):
        return self.call("write", ids_of(ids), values)

    def delete(self, ids: Iterable[Record | int]):
        return self._run(self._g_delete(list(ids)))

    def copy(self, ids: Iterable[Record | int], default: dict[str, Any] | None = None):
        return self.call("copy", ids_of(ids), default or {})

    # --- record API ---------------------------------------------------------------------------

    def browse(self, ids: Iterable[int]) -> list[Record]:
        """Records for ids, nothing read yet: values load on first access (sync), as a group."""
        group: list[Record] = []
        return [self.session_record(self.name, i, group) for i in ids]

    def new(self, **values: Any) -> Record:
        """A record to create with `save()`."""
        record = Record(self)
        for name, value in values.items():
            setattr(record, name, value)
        return record

    def find(
        self,
        domain: Domain,
        offset: int = 0,
        limit: int | None = None,
        order=None,
        fields: list[str] | None = None,
    ):
        """Records matching `domain`; with `fields` (dotted paths allowed: 'addresses.city')
        they come back filled by one `search_read`, otherwise they load lazily."""
        return self._run(self._g_find(domain, offset, limit, order, fields))

    def fetch(self, records: list[Record], fields: list[str] | None = None):
        """Read `fields` (default: the eager ones) for records, in batches; returns them."""
        return self._run(self._g_fetch(records, fields))

    def save(self, records: list[Record]):
        """Create new records and write the changed fields of the others, each in one call."""
        return self._run(self._g_save(records))

    def iterate(self, domain: Domain, fields: list[str] | None = None, page: int | None = None):
        """Every matching record, read a page at a time by increasing id (keyset paging)."""
        size = page or self.session.batch_size

        def make(after: int | None) -> Op:
            clause = ("id", ">", after)
            where = domain if after is None else ([domain, clause] if domain else [clause])
            return self._g_find(where, 0, size, [("id", "ASC")], fields)

        return self.session._pages(make, size)

    # --- internals ----------------------------------------------------------------------------

    def _run(self, op: Op):
        return self.session._run(op)

    def _context(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**self.session.context, **self.context, **(extra or {})}

    def _g_call(self, method: str, args: tuple, context: dict[str, Any] | None = None) -> Op:
        return (yield Call(f"model.{self.name}.{method}", (*args, self._context(context))))

    def _g_read(self, ids: list[int], fields: list[str]) -> Op:
        size = self.session.batch_size
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        if len(batches) == 1:
            return (yield from self._g_call("read", (batches[0], fields)))
        parts = yield Parallel([self._g_call("read", (b, fields)) for b in batches])
        return [row for part in parts for row in part]

    def _g_delete(self, records: list[Record | int]) -> Op:
        ids = ids_of(records)
        yield from self._g_call("delete", (ids,), self._timestamps(records))
        for record in records:
            if isinstance(record, Record):
                self.session._records.pop((self.name, record.id), None)

    def _g_find(self, domain, offset, limit, order, fields) -> Op:
        descriptions = yield from self.session._g_fields(self.name)
        if fields is None:
            ids = yield from self._g_call("search", (domain, offset, limit, order))
            return self.browse(ids)
        names = [*fields, TIMESTAMP]
        yield from self._g_nested_fields(names)
        rows = yield from self._g_call("search_read", (domain, offset, limit, order, names))
        return fill(self, rows, descriptions)

    def _g_fetch(self, records: list[Record], fields: list[str] | None) -> Op:
        descriptions = yield from self.session._g_fields(self.name)
        names = [*(fields or _eager(descriptions)), TIMESTAMP]
        yield from self._g_nested_fields(names)
        ids = list(dict.fromkeys(r.id for r in records if r.id is not None))
        rows = yield from self._g_read(ids, names)
        self._fill_rows(rows)
        return records

    def _g_nested_fields(self, names: list[str]) -> Op:
        """Descriptions of the models that dotted field names reach ('addresses.city')."""
        for name in names:
            head, _, rest = name.partition(".")
            if rest:
                descriptions = yield from self.session._g_fields(self.name)
                target = self.session.model(descriptions[head]["relation"], self.context)
                yield from target._g_nested_fields([rest])

    def _g_save(self, records: list[Record]) -> Op:
        descriptions = yield from self.session._g_fields(self.name)
        new = [r for r in records if r.id is None]
        if new:
            ids = yield from self._g_call("create", ([self._values_for_create(r) for r in new],))
            for record, ident in zip(new, ids, strict=True):
                object.__setattr__(record, "id", ident)
                self.session._records[(self.name, ident)] = record
                _saved(record)
        changed = [r for r in records if r.id is not None and r not in new and _dirty(r)]
        if changed:
            yield from self._g_original_x2many(changed, descriptions)
            groups: dict[str, tuple[list[int], dict]] = {}
            for record in changed:
                values = self._values_for_write(record)
                key = types.dumps(sorted(values.items()))
                groups.setdefault(key, ([], values))[0].append(record.id)
            args = [a for ids, values in groups.values() for a in (ids, values)]
            yield from self._g_call("write", tuple(args), self._timestamps(changed))
            for record in changed:
                _saved(record)
        return records

    def _g_original_x2many(self, records: list[Record], descriptions: dict) -> Op:
        """x2many values being replaced must be known to send add/remove: read them first."""
        for record in records:
            missing = [
                name
                for name in record._changes
                if descriptions.get(name, {}).get("type") in X2MANY and name not in record._values
            ]
            if missing:
                rows = yield from self._g_call("read", ([record.id], missing))
                self._fill_rows(rows)

    def _timestamps(self, records: Iterable[Record | int]) -> dict[str, Any]:
        stamps = {
            f"{self.name},{r.id}": r._values[TIMESTAMP]
            for r in records
            if isinstance(r, Record) and r._values.get(TIMESTAMP)
        }
        return {TIMESTAMP: stamps} if stamps else {}

    def _values_for_create(self, record: Record) -> dict[str, Any]:
        descriptions = self.session._fields.get(self.name, {})
        return {
            name: server_value(descriptions.get(name), value, None)
            for name, value in record._changes.items()
        }

    def _values_for_write(self, record: Record) -> dict[str, Any]:
        descriptions = self.session._fields.get(self.name, {})
        values = {
            name: server_value(descriptions.get(name), value, record._values.get(name))
            for name, value in record._changes.items()
        }
        for name, children in _changed_children(record):
            values[name] = server_value(descriptions[name], children, children)
        return values

    def _fill_rows(self, rows: list[dict[str, Any]]) -> list[Record]:
        return fill(self, rows, self.session._fields.get(self.name, {}))

    def _load_missing(self, record: Record, name: str) -> None:
        """Blocking read of `name` and the eager fields for the record's group."""
        descriptions = self.session.fields_get(self.name)
        if name not in descriptions and name != TIMESTAMP:
            raise AttributeError(f"{self.name} has no field {name!r}")
        group = [r for r in record._group if r.id is not None and name not in r._values]
        names = [n for n in _eager(descriptions) if n not in record._values]
        self.fetch(group or [record], list(dict.fromkeys([*names, name])))

    def _check_field(self, name: str) -> None:
        descriptions = self.session._fields.get(self.name)
        if descriptions is not None and name not in descriptions:
            raise AttributeError(f"{self.name} has no field {name!r}")

    def _default(self, name: str) -> Any:
        desc = self.session._fields.get(self.name, {}).get(name)
        if desc is None and self.name in self.session._fields:
            raise AttributeError(f"{self.name} has no field {name!r}")
        return [] if desc and desc["type"] in X2MANY else None

    def session_record(self, model: str, ident: int, group: list[Record]) -> Record:
        """The session's one record for (model, id), joined to `group`."""
        records = self.session._records
        record = records.get((model, ident))
        if record is None:
            target = self if model == self.name else self.session.model(model, self.context)
            record = Record(target, ident, group)
            records[(model, ident)] = record
        else:
            object.__setattr__(record, "_group", group)
        group.append(record)
        return record


def _eager(descriptions: dict[str, dict]) -> list[str]:
    return [n for n, d in descriptions.items() if d.get("loading", "eager") == "eager"]


def _is_record_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], Record)


def _changed_children(record: Record) -> list[tuple[str, list[Record]]]:
    """Loaded one2many/many2many values, not replaced, where a child record has changes."""
    return [
        (name, value)
        for name, value in record._values.items()
        if name not in record._changes
        and isinstance(value, list)
        and any(isinstance(c, Record) and c._changes for c in value)
    ]


def _dirty(record: Record) -> bool:
    return bool(record._changes) or bool(_changed_children(record))


def _saved(record: Record) -> None:
    """After a save the server may have changed more than what was sent: reload lazily."""
    for _, children in _changed_children(record):
        for child in children:
            _saved(child)
    for name in record._changes:
        record._values.pop(name, None)
    record._values.pop(TIMESTAMP, None)
    record._changes.clear()
