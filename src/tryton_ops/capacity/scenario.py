"""Scenario files: the RPC calls a real client sent for one task, as data, with placeholders.

A scenario is a list of steps (what a user does between two pauses: open a list, save a sale),
each a list of calls `{"method", "params", "as", "background"}`. A background call is one the
client sends without waiting for its answer (sao's link and tab counters): the replay sends it
alongside the step's next calls, and the step's time is what the user waits for, the other
calls; its answer cannot be saved (`as`). Params may hold placeholders `${name}`:
a string that is exactly a placeholder becomes the value itself (an id stays an int), one
inside a longer string is interpolated. Names are `r<N>.<path>` (the result of the call saved
`"as": "r<N>"`, then list indexes and dict keys), `today` (a trytond JSON date), `uniq` (unique
per scenario run) and `user.login`, `user.index` (per simulated user).

In a path, `@` is the simulated user's own element of a list (index `user.index` modulo its
length: users spread over the records a search found instead of all opening the first), `!`
its own element that no other user of the run has taken (from its `@` on, the next one not
taken; for records a scenario changes: a list found a few seconds earlier still holds what
another user has just posted, and posting it again fails), `:N`
the first N elements (a list read shows the rows the search returned, however many), and an
empty part closes a key ending in a dot (`r5.0.party..rec_name`: trytond returns the fields
read through a relation under `"party."`).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tryton_ops.errors import UsageError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.@!:]+)\}")
KINDS = ("read", "save")


class UnboundValue(Exception):
    """A placeholder whose value the earlier responses of this run did not provide."""


@dataclass(frozen=True)
class Call:
    method: str
    params: list
    save_as: str | None = None
    background: bool = False

    def __post_init__(self) -> None:
        if self.background and self.save_as:
            raise ValueError(f"{self.method}: a background call's answer cannot be saved (as)")


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    calls: tuple[Call, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    recorded: dict[str, Any]
    steps: tuple[Step, ...]

    @property
    def call_count(self) -> int:
        return sum(len(step.calls) for step in self.steps)


def parse_scenario(data: Any, source: str) -> Scenario:
    """A Scenario from its JSON form; UsageError naming `source` when the shape is wrong."""
    try:
        steps = tuple(
            Step(
                name=str(step["name"]),
                kind=_kind(step.get("kind", "read")),
                calls=tuple(
                    Call(
                        str(c["method"]),
                        list(c.get("params", [])),
                        c.get("as"),
                        _flag(c.get("background", False)),
                    )
                    for c in step["calls"]
                ),
            )
            for step in data["steps"]
        )
        scenario = Scenario(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            recorded=dict(data.get("recorded", {})),
            steps=steps,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{source}: not a scenario file ({exc})") from None
    if not steps:
        raise UsageError(f"{source}: a scenario needs at least one step")
    return scenario


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"background must be true or false, not {value!r}")
    return value


def _kind(value: str) -> str:
    if value not in KINDS:
        raise ValueError(f"step kind {value!r} is not one of {', '.join(KINDS)}")
    return value


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    return {
        "name": scenario.name,
        "description": scenario.description,
        "recorded": scenario.recorded,
        "steps": [
            {
                "name": step.name,
                "kind": step.kind,
                "calls": [
                    {
                        "method": c.method,
                        "params": c.params,
                        **({"as": c.save_as} if c.save_as else {}),
                        **({"background": True} if c.background else {}),
                    }
                    for c in step.calls
                ],
            }
            for step in scenario.steps
        ],
    }


def load_scenario(path: Path) -> Scenario:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read scenario {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: invalid JSON ({exc})") from None
    return parse_scenario(data, str(path))


def builtin_scenarios() -> dict[str, Scenario]:
    """The scenarios shipped with tryton-ops (recorded from real clients), by name."""
    folder = resources.files("tryton_ops.capacity") / "scenarios"
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            scenario = parse_scenario(json.loads(entry.read_text(encoding="utf-8")), entry.name)
            found[scenario.name] = scenario
    return found


def trytond_date(day: datetime.date) -> dict[str, Any]:
    """A date the way trytond's JSON-RPC encodes it."""
    return {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}


class AllTaken(Exception):
    """Every element of a list was taken by another simulated user."""


class Taken:
    """The elements `!` handed out during one run of a scenario, to any of its users."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def take(self, items: list, start: int) -> Any:
        if not items:
            raise IndexError("nothing found")
        for offset in range(len(items)):
            item = items[(start + offset) % len(items)]
            key = json.dumps(item, sort_keys=True)
            if key not in self.keys:
                self.keys.add(key)
                return item
        raise AllTaken(f"each of the {len(items)} found was taken by another simulated user")


@dataclass
class Scope:
    """The values placeholders resolve to during one run of a scenario.

    `taken` is shared by the users of a run (without it `!` picks like `@`); what `!` took
    stays this scope's for the rest of the run, however often the scenario names it.
    """

    variables: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    taken: Taken | None = None
    own: dict[str, Any] = field(default_factory=dict)

    def resolve(self, name: str) -> Any:
        head, _, path = name.partition(".")
        if head in self.results:
            return _follow(self.results[head], path, name, self.pick)
        if name in self.variables:
            return self.variables[name]
        raise UnboundValue(f"no value for ${{{name}}}")

    def pick(self, items: list, part: str, where: str) -> Any:
        """The user's own element of `items` (`@`), or its own untaken one (`!`)."""
        index = self.variables.get("user.index", 0)
        if part == "@" or self.taken is None:
            return items[index % len(items)]
        if where not in self.own:
            self.own[where] = self.taken.take(items, index)
        return self.own[where]

    def render(self, value: Any) -> Any:
        if isinstance(value, str):
            whole = PLACEHOLDER.fullmatch(value)
            if whole:
                return self.resolve(whole.group(1))
            if "${" in value:
                return PLACEHOLDER.sub(lambda m: str(self.resolve(m.group(1))), value)
            return value
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if isinstance(value, dict):
            return {self.render(k): self.render(v) for k, v in value.items()}
        return value


def _follow(value: Any, path: str, name: str, pick: Callable[[list, str, str], Any]) -> Any:
    parts = _parts(path)
    for number, part in enumerate(parts):
        try:
            if part in ("@", "!") and isinstance(value, list):
                where = ".".join([name.partition(".")[0], *parts[: number + 1]])
                value = pick(value, part, where)
            elif part.startswith(":") and isinstance(value, list):
                value = value[: int(part[1:])]
            else:
                value = value[int(part)] if isinstance(value, list) else value[part]
        except AllTaken as exc:
            raise UnboundValue(f"${{{name}}}: {exc}") from None
        except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError):
            raise UnboundValue(f"${{{name}}}: the response has no {part!r}") from None
    return value


def _parts(path: str) -> list[str]:
    """The path's keys; an empty part ends the key before it with a dot ("party.")."""
    parts: list[str] = []
    for part in path.split(".") if path else ():
        if part == "" and parts:
            parts[-1] += "."
        else:
            parts.append(part)
    return parts
