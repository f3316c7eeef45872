"""Loading `tryton-ops.toml`: defaults, then the file, then `TRYTON_OPS_*` environment overrides.

Every error names where the bad value came from (file and key, or environment variable), so an
operator can fix it without reading a traceback.
"""

from __future__ import annotations

import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tryton_ops.config.masking import mask_value
from tryton_ops.config.schema import Settings
from tryton_ops.errors import UsageError

ENV_PREFIX = "TRYTON_OPS_"
CONFIG_ENV = "TRYTON_OPS_CONFIG"
# variables of the prefix that are not settings: the config file, and the marker every process
# of a local stack carries (deploy.local_stack.MARKER), which a `tryton-ops` command run by the
# stack (the daily backup) inherits
# markers the stack sets for its programs (the local stack, the maintenance directory)
NOT_SETTINGS = frozenset({CONFIG_ENV, "TRYTON_OPS_STACK", "TRYTON_OPS_MAINTENANCE"})
DEFAULT_FILE = "tryton-ops.toml"


class ConfigError(UsageError):
    """A configuration that cannot be used; the message says what and where."""


@dataclass(frozen=True)
class LoadedConfig:
    """The validated settings with where they came from."""

    settings: Settings
    path: Path | None
    env_overrides: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return _state_dir(self.settings.paths.data, "XDG_DATA_HOME", ".local/share", self)

    @property
    def templates_dir(self) -> Path:
        """Cached database templates (SQLite files; PostgreSQL keeps them as databases)."""
        configured = self.settings.paths.templates
        return _state_dir(configured, "", "", self) if configured else self.data_dir / "templates"

    @property
    def backups_dir(self) -> Path:
        """Where `db backup` writes its archives and `--prune` looks for them."""
        configured = self.settings.paths.backups
        return _state_dir(configured, "", "", self) if configured else self.data_dir / "backups"

    @property
    def run_dir(self) -> Path:
        return _state_dir(self.settings.paths.run, "XDG_STATE_HOME", ".local/state", self)

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "(embedded default, no config file)"


def _state_dir(value: Path | None, xdg_var: str, fallback: str, config: LoadedConfig) -> Path:
    if value is not None:
        value = value.expanduser()
        if not value.is_absolute() and config.path is not None:
            value = config.path.parent / value
        return value.absolute()
    base = Path(os.environ.get(xdg_var) or Path.home() / fallback)
    return base / "tryton-ops" / config.settings.name


def find_config_file(explicit: str | os.PathLike | None = None) -> Path | None:
    """The file to read: `-c`, else `$TRYTON_OPS_CONFIG`, else `./tryton-ops.toml` if present."""
    candidate = explicit or os.environ.get(CONFIG_ENV)
    if candidate:
        path = Path(candidate).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"config file {path} does not exist; "
                f"create one with `tryton-ops config init {path}`"
            )
        return path.absolute()
    default = Path(DEFAULT_FILE)
    return default.absolute() if default.is_file() else None


def load_config(
    path: str | os.PathLike | None = None, environ: typing.Mapping[str, str] | None = None
) -> LoadedConfig:
    """Read, merge and validate; raise ConfigError with every problem found."""
    environ = os.environ if environ is None else environ
    file_path = find_config_file(path)
    data = _read_toml(file_path) if file_path else {}
    overrides = _env_overrides(environ)
    sources: dict[tuple[str, ...], str] = {}
    for dotted, (var, value) in overrides.items():
        keys = tuple(dotted.split("."))
        _set_nested(data, keys, _coerce_env(keys, value, var))
        sources[keys] = f"environment variable {var}"
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, file_path, sources)) from None
    env = {var: value for var, value in overrides.values()}
    return LoadedConfig(settings=settings, path=file_path, env_overrides=env)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8, as TOML requires"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _env_overrides(environ: typing.Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """`TRYTON_OPS_SERVER__WORKERS=4` -> {"server.workers": (var, "4")}."""
    found = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in NOT_SETTINGS:
            continue
        dotted = var[len(ENV_PREFIX) :].lower().replace("__", ".")
        found[dotted] = (var, value)
    return found


def _coerce_env(keys: tuple[str, ...], value: str, var: str) -> Any:
    """Environment values are strings; lists are comma-separated."""
    annotation = _annotation_at(Settings, keys)
    if annotation is None:
        return value  # unknown key: validation reports it with the variable name
    if typing.get_origin(annotation) is list:
        return [item.strip() for item in value.split(",") if item.strip()]
    if value == "" and type(None) in typing.get_args(annotation):
        return None
    return value


def _annotation_at(model: type[BaseModel], keys: tuple[str, ...]) -> Any:
    for i, key in enumerate(keys):
        info = model.model_fields.get(key)
        if info is None:
            return None
        annotation = info.annotation
        if i == len(keys) - 1:
            return annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return None


def _set_nested(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        node = data.setdefault(key, {})
        if not isinstance(node, dict):
            node = data[key] = {}
        data = node
    data[keys[-1]] = value


def _format_errors(
    exc: ValidationError, path: Path | None, sources: dict[tuple[str, ...], str]
) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        key = ".".join(loc) or "(top level)"
        where = sources.get(loc) or _origin(path, sources)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `tryton-ops config init` shows every key)"
        elif "input" in error and not isinstance(error["input"], dict):
            message = f"{message} (got {mask_value(key, error['input'])!r})"
        lines.append(f"{where}: {key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _origin(path: Path | None, sources: dict[tuple[str, ...], str]) -> str:
    """Where a rule across sections got its values: the file and every override."""
    origins = ([str(path)] if path else []) + sorted(set(sources.values()))
    return ", ".join(origins) or "defaults"


def sample_text() -> str:
    """The commented sample tryton-ops.toml shipped with the package (all defaults)."""
    from importlib.resources import files

    return files("tryton_ops.config").joinpath("sample.toml").read_text()
