"""Section models: one per table of `tryton-ops.toml`, and a part's round trip through trytond.conf.

A part's `PartSection` is the only place where its option names and defaults are written: the
CLI validates the TOML with it, trytond.conf's `[ops_<part>]` is rendered from it, and the code
running inside trytond reads that section back through the same model, so no reader carries
defaults or names of its own.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


def _is_list(annotation: Any) -> bool:
    """A list-valued field (maybe optional): rendered as JSON, the one shape INI has no form for."""
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(arg) is list for arg in typing.get_args(annotation))


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


class PartSection(Section):
    """A part's options, rendered into and read back from trytond.conf `[<TRYTOND_SECTION>]`."""

    TRYTOND_SECTION: ClassVar[str]

    def trytond_items(self) -> dict[str, str]:
        """The INI form of every option; None (unset) is left out and reads back as None."""
        return {name: _encode(value) for name, value in self if value is not None}

    @classmethod
    def from_items(cls, get: Callable[[str], str | None]) -> Self:
        """The model from `get(option)` (an INI lookup); absent options take the model defaults."""
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = get(name)
            if raw is None or raw == "":
                continue
            values[name] = json.loads(raw) if _is_list(field.annotation) else raw
        return cls.model_validate(values)

    @classmethod
    def from_mapping(cls, items: Mapping[str, str]) -> Self:
        return cls.from_items(items.get)

    @classmethod
    def from_trytond(cls) -> Self:
        """Inside a trytond process: trytond's config, `TRYTOND_<SECTION>__<OPTION>` included."""
        from trytond.config import config

        return cls.from_items(lambda name: config.get(cls.TRYTOND_SECTION, name, default=None))
