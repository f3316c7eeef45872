"""What a load test runs: the scenario mix and the think time between a user's steps."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tryton_ops.capacity.scenario import Scenario, builtin_scenarios, load_scenario
from tryton_ops.errors import UsageError

THINK_HELP = "exp:MEAN, uniform:LOW-HIGH, const:SECONDS or a number (seconds)"


@dataclass(frozen=True)
class ThinkTime:
    """Seconds a user waits between two steps: constant, uniform or exponential."""

    kind: str
    low: float
    high: float = 0.0

    @classmethod
    def parse(cls, text: str) -> ThinkTime:
        kind, _, value = text.partition(":")
        if not value:
            kind, value = "const", kind
        try:
            if kind == "uniform":
                low, _, high = value.partition("-")
                think = cls("uniform", float(low), float(high))
                if think.high < think.low:
                    raise ValueError
            elif kind in ("exp", "const"):
                think = cls(kind, float(value))
            else:
                raise ValueError
        except ValueError:
            raise UsageError(f"think time {text!r}: expected {THINK_HELP}") from None
        if think.low < 0:
            raise UsageError(f"think time {text!r}: must not be negative")
        return think

    def sample(self, rng: random.Random) -> float:
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "exp":
            return rng.expovariate(1 / self.low) if self.low else 0.0
        return self.low

    def __str__(self) -> str:
        if self.kind == "uniform":
            return f"uniform:{self.low:g}-{self.high:g}"
        return f"{self.kind}:{self.low:g}"


def parse_mix(text: str) -> dict[str, float]:
    """ "sale_create=1,sales_browse=3", or a file with one name=weight per line."""
    path = Path(text)
    if path.is_file():
        text = ",".join(line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    mix: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition("=")
        try:
            mix[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise UsageError(f"scenario mix {item!r}: the weight must be a number") from None
        if mix[name.strip()] < 0:
            raise UsageError(f"scenario mix {item!r}: the weight must not be negative")
    if not mix or not any(mix.values()):
        raise UsageError("the scenario mix is empty")
    return mix


def available_scenarios(extra: list[Path]) -> dict[str, Scenario]:
    """Shipped scenarios and the files given (a file of the same name replaces a shipped one)."""
    found = builtin_scenarios()
    for path in extra:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            scenario = load_scenario(file)
            found[scenario.name] = scenario
    return found


def select(mix: dict[str, float], scenarios: dict[str, Scenario]) -> list[tuple[Scenario, float]]:
    unknown = sorted(set(mix) - set(scenarios))
    if unknown:
        raise UsageError(
            f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(scenarios))}"
        )
    return [(scenarios[name], weight) for name, weight in mix.items() if weight > 0]
