"""Turning a recording (the recorder's JSONL) into a scenario file.

Steps are cut where the client was idle (the user looking at the screen), calls the replay
makes itself are dropped (login, server version, database list), and the values that differ
from one user to the next are replaced by placeholders: an id an earlier response returned
becomes a reference to that response, today's date becomes `${today}`. The client's context
(the last param) is kept as sent, less `_timestamp`, so that replayed writes are not refused as
concurrent edits of a record another simulated user read.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from tryton_ops.capacity.scenario import Call, Scenario, Step, trytond_date
from tryton_ops.errors import UsageError

DEFAULT_GAP = 1.0
SKIPPED = ("common.", "model.res.user.device.renew")
READ_PREFIXES = (
    "search",
    "read",
    "fields_",
    "view_",
    "default_get",
    "on_change",
    "autocomplete",
    "get",
    "list_",
    "resources",
    "export_data",
)
# the counts sao 8 asks for without waiting (tryton-sao.js): a list's tab counters
# (Screen.count_tab_domain, limit 1000) and a form's link counters (the relate toolbar, 100)
SAO_COUNTER_LIMITS = (100, 1000)
LIST_RESULTS = (".search", ".create")
ROW_RESULTS = (".search_read", ".read", ".autocomplete")


def load_recording(path: Path) -> list[dict[str, Any]]:
    """The recorded calls, in start order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read recording {path}: {exc.strerror}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record.get("method"), str) or "ts" not in record:
                raise ValueError
        except (ValueError, AttributeError):
            raise UsageError(f"{path}:{number}: not a recorder line") from None
        records.append(record)
    if not records:
        raise UsageError(f"{path}: the recording is empty")
    return sorted(records, key=lambda r: r["ts"])


def split_steps(records: list[dict], gap: float) -> list[list[dict]]:
    """Groups of calls separated by at least `gap` seconds without any call in flight."""
    steps: list[list[dict]] = []
    busy_until = None
    for record in records:
        if busy_until is None or record["ts"] - busy_until >= gap:
            steps.append([])
        steps[-1].append(record)
        end = record["ts"] + record.get("duration_ms", 0) / 1000
        busy_until = end if busy_until is None else max(busy_until, end)
    return steps


def step_kind(methods: list[str]) -> str:
    """ "save" when a call changes data (create, write, a button, a wizard), else "read"."""
    for method in methods:
        if method.startswith("wizard."):
            return "save"
        if method.startswith("model."):
            function = method.rsplit(".", 1)[-1]
            if not function.startswith(READ_PREFIXES):
                return "save"
    return "read"


class _Parameteriser:
    """Replaces ids seen in earlier responses by references to them, and today's date.

    An id passed directly as an argument (or in a plain list of ids, like `read`'s) names a
    record of the called model, so it is bound only to a response of that model; deeper
    (domains, on_change values) the model is unknown and any earlier response binds it.
    """

    def __init__(self, today: datetime.date):
        self.known: dict[int, tuple[str, str, str]] = {}  # id -> (result name, path, model)
        self.lists: dict[tuple[int, ...], str] = {}  # a search's whole result -> its name
        self.used: set[str] = set()
        self.today = trytond_date(today)

    def learn(self, name: str, method: str, result: Any) -> None:
        if not isinstance(result, list):
            return
        model = _model(method)
        if method.endswith(LIST_RESULTS) and result and all(_is_id(i) for i in result):
            self.lists[tuple(sorted(result))] = name
        for index, item in enumerate(result):
            if method.endswith(LIST_RESULTS) and _is_id(item):
                self.known[item] = (name, f"{index}", model)
            elif method.endswith(ROW_RESULTS) and isinstance(item, dict) and _is_id(item.get("id")):
                self.known[item["id"]] = (name, f"{index}.id", model)

    def params(self, method: str, params: list) -> list:
        context = params[-1] if params and isinstance(params[-1], dict) else None
        body = params[:-1] if context is not None else params
        model = _model(method)
        out = []
        for param in body:
            whole = self.lists.get(tuple(sorted(param))) if _ids(param) else None
            if whole:  # the ids a search returned, as sao reads them: however many there are
                self.used.add(whole)
                out.append(f"${{{whole}}}")
            elif _ids(param):
                out.append([self._value(v, model) for v in param])
            else:
                out.append(self._value(param, model))
        if context is not None:
            out.append({k: v for k, v in context.items() if k != "_timestamp"})
        return out

    def _value(self, value: Any, model: str | None = None) -> Any:
        """`model` set: `value` is a direct argument, an id of that model if any."""
        if _is_id(value) and value in self.known:
            name, path, source = self.known[value]
            if model is not None and source != model:
                return value
            self.used.add(name)
            return f"${{{name}.{path}}}"
        if value == self.today:
            return "${today}"
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        return value


def _ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_id(v) for v in value)


def _model(method: str) -> str:
    """ "model.sale.sale.read" -> "sale.sale"; other services keep their whole name."""
    return method[6:].rpartition(".")[0] if method.startswith("model.") else method


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _server_version(records: list[dict]) -> str | None:
    for record in records:
        if record["method"] == "common.server.version" and "result" in record:
            return str(record["result"])
    return None


def convert(
    records: list[dict],
    name: str,
    client: str,
    description: str = "",
    gap: float = DEFAULT_GAP,
    step_names: list[str] | None = None,
    skip_steps: int = 0,
) -> Scenario:
    """The scenario of a recording; `skip_steps` drops leading steps (the login and menu)."""
    started = datetime.datetime.fromtimestamp(records[0]["ts"], datetime.UTC)
    version = _server_version(records)
    kept = [
        r
        for r in records
        if not r["method"].startswith(SKIPPED) and r.get("status") == 200 and "error" not in r
    ]
    groups = split_steps(kept, gap)[skip_steps:]
    if not groups:
        raise UsageError(f"the recording has no step left after skipping {skip_steps}")
    if step_names and len(step_names) != len(groups):
        raise UsageError(
            f"{len(step_names)} step names given for {len(groups)} steps "
            f"(cut at idle gaps of {gap} s); change --gap or the names"
        )
    shaper = _Parameteriser(started.date())
    drafts = []
    number = 0
    for index, group in enumerate(groups):
        calls = []
        for record in group:
            number += 1
            result_name = f"r{number}"
            background = sent_in_background(client, record["method"], record["params"])
            params = shaper.params(record["method"], record["params"])
            calls.append((result_name, record["method"], params, background))
            if not background:  # nothing waits for its answer: no later call uses it
                shaper.learn(result_name, record["method"], record.get("result"))
        label = step_names[index] if step_names else _auto_name(index, group)
        drafts.append((label, step_kind([r["method"] for r in group]), calls))
    steps = tuple(
        Step(
            name=label,
            kind=kind,
            calls=tuple(
                Call(
                    method,
                    params,
                    result_name if result_name in shaper.used else None,
                    background,
                )
                for result_name, method, params, background in calls
            ),
        )
        for label, kind, calls in drafts
    )
    recorded = {
        "client": client,
        "server": f"trytond {version}" if version else "trytond",
        "date": started.date().isoformat(),
        "calls_recorded": len(records),
    }
    return Scenario(name=name, description=description, recorded=recorded, steps=steps)


def sent_in_background(client: str, method: str, params: list) -> bool:
    """Whether `client` sends this call without waiting for its answer."""
    return (
        client.startswith("sao")
        and method.endswith(".search_count")
        and len(params) == 4
        and params[1] == 0
        and params[2] in SAO_COUNTER_LIMITS
    )


def _auto_name(index: int, group: list[dict]) -> str:
    """Step name from its first model call: "3 sale.sale search"."""
    for record in group:
        if record["method"].startswith("model."):
            model, _, function = record["method"][6:].rpartition(".")
            return f"{index + 1} {model} {function}"
    return f"{index + 1} {group[0]['method']}"
