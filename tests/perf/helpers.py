"""Shared helpers of the perf tests: CLI runs against a config, waiting for stored records."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from tryton_ops.cli import main
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import open_store


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_toml(config, path: Path) -> Path:
    """The LoadedConfig as a tryton-ops.toml (paths absolute), for CLI runs."""
    data = config.settings.model_dump(mode="json")
    data["paths"] = {"data": str(config.data_dir), "run": str(config.run_dir)}
    lines = []
    for key, value in data.items():
        if not isinstance(value, dict) and value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            for key, value in values.items():
                if value is not None:
                    lines.append(f"{key} = {_toml_value(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(config, tmp_path: Path, *args: str):
    toml = write_toml(config, tmp_path / "tryton-ops.toml")
    return CliRunner().invoke(main, ["-c", str(toml), *args], catch_exceptions=False)


def wait_records(config, predicate, timeout: float = 30.0) -> list[dict]:
    """All stored records once `predicate(records)` holds (the writer flushes in background)."""
    options = PerfOptions.from_config(config)
    deadline = time.monotonic() + timeout
    while True:
        store = open_store(options)
        try:
            records = list(store.read())
        finally:
            store.close()
        if predicate(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; {len(records)} records: {records[-5:]}")
        time.sleep(0.2)
