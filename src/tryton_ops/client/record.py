"""Records: lazy field values, relations as records, change tracking, one object per (model, id).

Values read from the server are converted on arrival: a many2one becomes a `Record`, an x2many a
list of records, a reference `"model,id"` a record. Every record read together belongs to one
group (a plain list): reading a missing field on one record reads it for the whole group in one
call (batched), which is what turns N+1 round trips into one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tryton_ops.client.model import Model

X2MANY = frozenset({"one2many", "many2many"})


class NotLoaded(AttributeError):
    """Under asyncio a missing value cannot be fetched on attribute access: fetch it first."""


class Record:
    """One record of a model; `id` is None until a new record is saved."""

    __slots__ = ("__weakref__", "_changes", "_group", "_model", "_values", "id")

    def __init__(self, model: Model, id: int | None = None, group: list[Record] | None = None):
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_changes", {})
        object.__setattr__(self, "_group", group if group is not None else [self])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._changes:
            return self._changes[name]
        if name in self._values:
            return self._values[name]
        if self.id is None:
            return self._model._default(name)
        if not self._model.session.blocking:
            raise NotLoaded(
                f"{self!r}.{name} is not loaded: await model.fetch(records, [{name!r}]) "
                "or find(..., fields=[...]) first"
            )
        self._model._load_missing(self, name)
        return self._values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "id":
            raise AttributeError("id is given by the server")
        self._model._check_field(name)
        self._changes[name] = value

    def __repr__(self) -> str:
        return f"Record({self._model.name!r}, {self.id})"

    @property
    def model(self) -> Model:
        return self._model

    @property
    def changes(self) -> dict[str, Any]:
        """The values set since the last read or save (what `save()` sends)."""
        return dict(self._changes)

    def save(self):
        return self._model.save([self])

    def delete(self):
        return self._model.delete([self])

    def fetch(self, fields: list[str] | None = None):
        """Read `fields` (default: the eager ones) again for this record's whole group."""
        return self._model.fetch(self._group, fields)

    def call(self, method: str, *args: Any):
        """A button or instance method on this record: `record.call('confirm')`."""
        return self._model.call(method, [self.id], *args)


def fill(model: Model, rows: list[dict[str, Any]], descriptions: dict[str, dict]) -> list[Record]:
    """Records for `rows` from `read`/`search_read`, values converted, sharing one group."""
    group: list[Record] = []
    targets: dict[str, list[Record]] = defaultdict(list)  # one group per relation field
    nested: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        record = model.session_record(model.name, row["id"], group)
        for key, value in row.items():
            if key == "id" or key.endswith("."):
                continue
            desc = descriptions.get(key)
            record._values[key] = _convert(model, desc, value, targets[key]) if desc else value
        for key, value in row.items():
            name = key[:-1]
            if not key.endswith(".") or "relation" not in descriptions.get(name, {}):
                continue  # references have no single target model: left as read
            if value:
                nested[name].extend(value if isinstance(value, list) else [value])
            if name not in row:  # only 'addresses.city' was asked
                ids = [v["id"] for v in value] if isinstance(value, list) else value and value["id"]
                record._values[name] = _convert(model, descriptions[name], ids, targets[name])
    for name, sub_rows in nested.items():
        target = model.session.model(descriptions[name]["relation"], model.context)
        target._fill_rows(sub_rows)
    return group


def _convert(model: Model, desc: dict, value: Any, group: list[Record]) -> Any:
    kind = desc["type"]
    if kind == "many2one":
        return None if value is None else model.session_record(desc["relation"], value, group)
    if kind in X2MANY:
        return [model.session_record(desc["relation"], i, group) for i in value or ()]
    if kind == "reference" and isinstance(value, str) and "," in value:
        name, _, ident = value.partition(",")
        if ident.lstrip("-").isdigit() and int(ident) >= 0:
            return model.session_record(name, int(ident), group)
    return value


def server_value(desc: dict | None, value: Any, original: Any) -> Any:
    """What to send for a changed field: ids for relations, x2many as add/remove/create."""
    if desc is None:
        return value
    kind = desc["type"]
    if kind == "many2one":
        return _ident(value)
    if kind == "reference" and isinstance(value, Record):
        return f"{value._model.name},{_ident(value)}"
    if kind in X2MANY:
        return _x2many_actions(kind, value or [], original or [])
    return value


def _ident(value: Any) -> int | None:
    if isinstance(value, Record):
        if value.id is None:
            raise ValueError(f"{value!r} is not saved: save it first or put it in an x2many")
        return value.id
    return value


def _x2many_actions(kind: str, new: list, old: list[Record]) -> list:
    old_ids = [r.id for r in old]
    new_ids = [v.id if isinstance(v, Record) else v for v in new]
    actions: list = []
    created = [v.model._values_for_create(v) for v in new if isinstance(v, Record) and v.id is None]
    if created:
        actions.append(("create", created))
    added = [i for i in new_ids if i is not None and i not in old_ids]
    if added:
        actions.append(("add", added))
    removed = [i for i in old_ids if i not in new_ids]
    if removed:
        actions.append(("delete" if kind == "one2many" else "remove", removed))
    for value in new:
        if isinstance(value, Record) and value.id is not None and value._changes:
            actions.append(("write", [value.id], value.model._values_for_write(value)))
    return actions
