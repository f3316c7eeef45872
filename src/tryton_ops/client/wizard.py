"""Server wizards (`wizard.party.replace`): create, execute states with their data, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tryton_ops.client.record import Record
from tryton_ops.client.transport import Call

if TYPE_CHECKING:
    from tryton_ops.client.session import Op, Session


class Wizard:
    """One run of a wizard on `records`; the server session starts at the first `execute`."""

    def __init__(
        self,
        session: Session,
        name: str,
        records: list[Record] | None = None,
        context: dict[str, Any] | None = None,
    ):
        self.session = session
        self.name = name
        self.context = {**session.context, **(context or {})}
        if records:
            ids = [r.id for r in records]
            model = records[0].model.name
            self.context.update(active_model=model, active_id=ids[0], active_ids=ids)
        self.id: int | None = None
        self.start_state: str | None = None

    def execute(self, state: str, data: dict[str, Any] | None = None):
        """Run `state` with the values of the wizard's views (`{"ask": {...}}`); the server's
        answer tells the next view or the actions to run."""
        return self.session._run(self._g_execute(state, data or {}))

    def delete(self):
        return self.session._run(self._g_delete())

    def _g_execute(self, state: str, data: dict[str, Any]) -> Op:
        if self.id is None:
            self.id, self.start_state, _ = yield Call(f"wizard.{self.name}.create", (self.context,))
        return (yield Call(f"wizard.{self.name}.execute", (self.id, data, state, self.context)))

    def _g_delete(self) -> Op:
        if self.id is not None:
            yield Call(f"wizard.{self.name}.delete", (self.id, self.context))
            self.id = None
