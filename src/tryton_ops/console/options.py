"""The console's options inside trytond: `[console]` plus what the deployment tells it."""

from __future__ import annotations

from pydantic import Field

from tryton_ops.config.schema import Console, Front, Network


class ConsoleOptions(Console):
    """`[ops_console]` of trytond.conf, rendered from `[console]` and the deployment."""

    database: str = Field("", description="the database whose administrators may log in")
    config_file: str = Field(
        "", description="the deployment's tryton-ops.toml (status, doctor); empty: none"
    )
    perf: bool = Field(False, description="the analyzer records calls (perf.enabled)")
    networks: list[Network] = Field(
        default_factory=lambda: Front().allowed_networks,
        description="client networks allowed on /ops/ (front.allowed_networks)",
    )

    @classmethod
    def from_config(cls, config) -> ConsoleOptions:
        """From a `LoadedConfig` (tryton-ops side): what the deployment's processes read."""
        settings = config.settings
        values = settings.console.model_dump()
        values.update(
            database=settings.database.name,
            config_file=str(config.path) if config.path else "",
            perf=settings.perf.enabled,
            networks=list(settings.front.allowed_networks),
        )
        return cls.model_validate(values)
