"""Simulated Tryton users for Locust: JSON-RPC over HTTP the way sao sends it.

Each user logs in once (`common.db.login`, then `Authorization: Session base64(login:id:key)`),
loads its preferences (as sao does: they make the context every call sends), then runs
scenarios picked by weight, step after step, with a think time between steps. Every
call is a Locust request of type "POST" named by its method; every step is also reported, as
type "STEP" named "<scenario>: <step>" with the time the user waited (its calls but the
background ones, which are sent alongside as a browser does, on up to 6 connections, and
awaited before the step ends), so both can be read per name. Like sao, a user keeps the
answers trytond marks cacheable for its session and does not send those calls again
(`client_cache`).
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import gevent
from locust import FastHttpUser, task
from locust.exception import StopUser

from tryton_ops.capacity.client_cache import HEADER, ClientCache, cache_seconds
from tryton_ops.capacity.error_page import page_text
from tryton_ops.capacity.plan import ThinkTime
from tryton_ops.capacity.scenario import (
    Scenario,
    Scope,
    Step,
    Taken,
    UnboundValue,
    trytond_date,
)

RPC = "POST"  # Locust names a request type by its HTTP method
STEP = "STEP"
LOGIN = "common.db.login"
PREFERENCES = "model.res.user.get_preferences"


class RpcError(Exception):
    """The server answered a call with an error (or no JSON-RPC answer at all)."""


@dataclass(frozen=True)
class Workload:
    """What every simulated user of a run shares."""

    database: str
    login: str
    password: str
    scenarios: tuple[tuple[Scenario, float], ...]
    think: ThinkTime
    language: str = "en"
    client_cache: bool = True  # keep cacheable answers per session, as the real clients do


def step_label(scenario: Scenario, step: Step) -> str:
    return f"{scenario.name}: {step.name}"


class TrytonUser(FastHttpUser):
    """Abstract; `user_class(workload)` makes the concrete class of a run."""

    abstract = True
    concurrency = 6  # connections per host: a browser's limit, what sao's calls share
    workload: Workload
    tally: Counter[str]  # per run: calls the users' client caches answered ("client_cache_hits")
    taken: defaultdict[str, Taken]  # per run and scenario: the records `!` gave to some user
    _numbers = itertools.count()

    def wait_time(self) -> float:
        return self.workload.think.sample(self.rng)

    def on_start(self) -> None:
        self.index = next(self._numbers)
        self.rng = random.Random(self.index)
        self.path = f"/{self.workload.database}/rpc/"  # where sao 8 posts its calls
        self.auth_header: dict[str, str] = {}
        self.kept = ClientCache() if self.workload.client_cache else None
        self.runs = itertools.count(1)
        self.first_task = True
        try:
            result = self.rpc(
                LOGIN,
                [self.workload.login, {"password": self.workload.password}, self.workload.language],
            )
        except RpcError:
            raise StopUser() from None
        token = f"{self.workload.login}:{result[0]}:{result[1]}".encode()
        self.auth_header = {"Authorization": "Session " + base64.b64encode(token).decode()}
        try:
            self.preferences = self.rpc(PREFERENCES, [True, {}])
            self.currency = self.company_currency()
        except RpcError:
            raise StopUser() from None

    def company_currency(self) -> int | None:
        """The currency of the user's company: what sao shows amounts in (`${user.currency}`)."""
        company = self.preferences.get("company")
        if company is None:
            return None
        rows = self.rpc("model.company.company.read", [[company], ["currency"], {}])
        return rows[0]["currency"] if rows else None

    @task
    def run_scenario(self) -> None:
        if self.first_task:
            # people who log in together do not click together: without this wait every
            # user of a step starts its first scenario at once, a wave a real office never sends
            self.first_task = False
            self.wait()
        scenarios = self.workload.scenarios
        weights = [weight for _, weight in scenarios]
        self.play(self.rng.choices([s for s, _ in scenarios], weights=weights)[0])

    def play(self, scenario: Scenario, think: bool = True) -> bool:
        """Run the scenario's steps until one fails; True when all passed."""
        scope = Scope(
            variables={
                "today": trytond_date(datetime.date.today()),
                "uniq": f"u{self.index}r{next(self.runs)}",
                "user.login": self.workload.login,
                "user.index": self.index,
                "user.company": self.preferences.get("company"),
                "user.currency": self.currency,
            },
            taken=self.taken[scenario.name],
        )
        for number, step in enumerate(scenario.steps):
            if number and think:
                self.wait()  # think time between the steps of one task, as between tasks
            if not self.run_step(scenario, step, scope):
                return False
        return True

    def run_step(self, scenario: Scenario, step: Step, scope: Scope) -> bool:
        """Run the step's calls; report it as one STEP request. False when it failed."""
        started = time.perf_counter()
        error: Exception | None = None
        background = []
        try:
            for call in step.calls:
                params = self.in_context(scope.render(call.params))
                if call.background:
                    background.append(gevent.spawn(self.sent_alongside, call.method, params))
                    continue
                result = self.rpc(call.method, params)
                if call.save_as:
                    scope.results[call.save_as] = result
        except (RpcError, UnboundValue) as exc:
            error = exc
        waited = time.perf_counter() - started
        gevent.joinall(background)
        failed = [g.value for g in background if g.value is not None]
        error = error or (failed[0] if failed else None)
        self.environment.events.request.fire(
            request_type=STEP,
            name=step_label(scenario, step),
            response_time=waited * 1000,
            response_length=0,
            exception=error,
            context={"kind": step.kind},
        )
        return error is None

    def sent_alongside(self, method: str, params: list) -> RpcError | None:
        """A background call: its failure, if any (already reported as the call's)."""
        try:
            self.rpc(method, params)
        except RpcError as exc:
            return exc
        return None

    def in_context(self, params: list) -> list:
        """The recorded context (the last param) with this user's preferences in it.

        A recording carries the recording database's company id and groups; the user's own
        preferences (what sao puts in its context) replace the keys they share, so that a
        scenario recorded on one database runs on another.
        """
        if params and isinstance(params[-1], dict) and "company" in params[-1]:
            context = params[-1]
            shared = {k: v for k, v in self.preferences.items() if k in context}
            return [*params[:-1], {**context, **shared}]
        return params

    def rpc(self, method: str, params: list) -> Any:
        if self.kept is not None:
            found, answer = self.kept.get(method, params)
            if found:
                self.tally["client_cache_hits"] += 1
                return answer
        body = json.dumps({"id": 0, "method": method, "params": params})
        with self.client.post(
            self.path,
            data=body,
            headers={"Content-Type": "application/json", **self.auth_header},
            name=method,
            catch_response=True,
        ) as response:
            try:
                data = response.json()
            except (ValueError, TypeError):
                page = page_text(response.text)
                response.failure(f"HTTP {response.status_code}: not a JSON-RPC answer: {page}")
                raise RpcError(method) from None
            if not isinstance(data, dict) or data.get("error") is not None:
                message = str(data.get("error") if isinstance(data, dict) else data)[:300]
                response.failure(message)
                raise RpcError(f"{method}: {message}")
            result = data.get("result")
            if self.kept is not None:
                self.kept.put(method, params, cache_seconds(response.headers.get(HEADER)), result)
            return result


def user_class(workload: Workload, host: str) -> type[TrytonUser]:
    """A concrete user class bound to one run's workload and server."""
    attributes = {
        "workload": workload,
        "host": host,
        "tally": Counter(),
        "taken": defaultdict(Taken),
    }
    return type("SimulatedTrytonUser", (TrytonUser,), attributes)
