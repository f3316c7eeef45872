"""Every option of every part goes through trytond.conf and comes back equal inside trytond.

A part's section model is the only place its options are written: the CLI renders trytond.conf
from it and the code running in trytond reads the section back through the same model. This
test sets every option to a value other than its default, renders, and reads each back in a
trytond process through the reader the part itself uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tryton_ops.config import load_config, write_trytond_conf
from tryton_ops.config.schema import Accel, Cache, Console, Debug, Perf, Sessions
from tryton_ops.console.options import ConsoleOptions
from tryton_ops.perf.options import PerfOptions

PARTS = {
    "cache": Cache,
    "sessions": Sessions,
    "perf": Perf,
    "accel": Accel,
    "debug": Debug,
    "console": Console,
}
# on by default, and off renders nothing to read back (tests/config/test_trytond_conf.py)
ONLY_DEFAULT = {"console": {"enabled"}}

TOML = """
name = "roundtrip"
[paths]
data = "data"
run = "run"
[database]
modules = ["party", "ops_session"]
[front]
allowed_networks = ["10.9.0.0/16"]
[cache]
backend = "redis"
redis_uri = "redis://127.0.0.1:6390/2"
key_prefix = "tk"
l1 = false
l1_size = 77
ttl = 99
timeout = 0.7
connect_timeout = 0.8
retry_interval = 2.5
commit_lease = 33.0
max_value_size = 2048
tls_ca_file = "/etc/ssl/ops-ca.pem"
signing_key_file = "{key}"
clean_timeout = 5
[sessions]
store = "redis"
redis_uri = "redis://127.0.0.1:6391/3"
key_prefix = "sk"
exclusive = true
audit = false
audit_days = 9
max_age = 1234
timeout = 321
redis_timeout = 0.9
connect_timeout = 0.6
tls_ca_file = "/etc/ssl/ops-ca2.pem"
[perf]
enabled = true
store = "redis"
redis_uri = "redis://127.0.0.1:6392/4"
max_records = 500
max_age = "2d"
slow_sql_ms = 77
slow_rpc_ms = 88
stack_ms = 5
n1_threshold = 4
max_statements = 300
buffer_size = 50
flush_interval_ms = 123
metrics_token = "tok-secret"
profile = true
profile_interval_ms = 3
fp_key_file = "/etc/tryton/perf-fp-key"
max_capture = "2d"
[accel]
json_response = true
view_cache = true
record_init = true
[debug]
eval = true
eval_timeout = 12
record_max_depth = 3
record_max_records = 40
record_timeout = 2.5
[console]
refresh_s = 7
window = "2h"
"""

# The readers the parts use inside trytond, each printing what it read as JSON.
READERS = """
import json
from trytond.config import config
from tryton_ops.accel.runtime import enabled_in_trytond_config
from tryton_ops.config.schema import Accel, Cache, Debug
from tryton_ops.console.options import ConsoleOptions
from tryton_ops.debug.evaluate import eval_enabled, eval_timeout
from tryton_ops.perf.options import PerfOptions
from tryton_ops.sessions import options as sessions
print(json.dumps({
    "console": ConsoleOptions.from_trytond().model_dump(mode="json"),
    "cache": Cache.from_trytond().model_dump(mode="json"),
    "sessions": sessions.from_trytond().model_dump(mode="json"),
    "perf": PerfOptions.from_trytond().model_dump(mode="json"),
    "accel": Accel.from_trytond().model_dump(mode="json"),
    "accel_enabled": enabled_in_trytond_config(),
    "debug": [eval_enabled(), eval_timeout()],
    "debug_section": Debug.from_trytond().model_dump(mode="json"),
    "trytond": {
        "cache_default": config.getint("cache", "default"),
        "clean_timeout": config.getint("cache", "clean_timeout"),
        "session_max_age": config.getint("session", "max_age"),
        "session_timeout": config.getint("session", "timeout"),
    },
}))
"""


def _load(tmp_path):
    key = tmp_path / "signing-key"
    key.write_text("k" * 40)
    path = tmp_path / "tryton-ops.toml"
    path.write_text(TOML.replace("{key}", str(key)))
    return load_config(path, environ={})


def test_every_option_of_every_part_is_set_to_a_non_default(tmp_path):
    """Guards the round trip below: a new option must be added to TOML with another value."""
    settings = _load(tmp_path).settings
    for name, model in PARTS.items():
        section = getattr(settings, name)
        defaults = model()
        same = [f for f in model.model_fields if getattr(section, f) == getattr(defaults, f)]
        same = [f for f in same if f not in ONLY_DEFAULT.get(name, ())]
        assert not same, f"[{name}] options left at their default in TOML: {same}"


def test_every_option_reads_back_equal_inside_trytond(tmp_path):
    config = _load(tmp_path)
    settings = config.settings
    written = write_trytond_conf(config)
    out = subprocess.run(
        [sys.executable, "-c", READERS],
        # PYTHONPATH kept: the readers of the tree under test, not of the editable install
        env={
            "TRYTOND_CONFIG": str(written),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        },
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    read = json.loads(out)

    expected_cache = settings.cache.model_copy(update={"redis_uri": settings.redis_uri_of("cache")})
    assert read["cache"] == expected_cache.model_dump(mode="json")
    assert read["sessions"] == settings.sessions.model_dump(mode="json")
    counted = {"counted_cache": "tryton_ops.cache.RedisCache"}  # counted behind CountingCache
    assert read["perf"] == PerfOptions.from_config(config).model_dump(mode="json") | counted
    perf = {k: read["perf"][k] for k in Perf.model_fields}
    assert perf == settings.perf.model_dump(mode="json")  # nothing renamed on the way
    assert read["perf"]["deployment"] == "roundtrip"
    assert read["perf"]["metrics_networks"] == ["10.9.0.0/16"]
    assert read["accel"] == settings.accel.model_dump(mode="json")
    assert sorted(read["accel_enabled"]) == ["json_response", "record_init", "view_cache"]
    assert read["debug"] == [True, 12]
    assert read["debug_section"] == settings.debug.model_dump(mode="json")
    assert read["console"] == ConsoleOptions.from_config(config).model_dump(mode="json")
    console = {k: read["console"][k] for k in Console.model_fields}
    assert console == settings.console.model_dump(mode="json")
    assert read["console"]["networks"] == ["10.9.0.0/16"]
    assert read["console"]["config_file"] == str(config.path)
    # the options that are trytond's own are rendered where trytond reads them
    assert read["trytond"] == {
        "cache_default": 77,
        "clean_timeout": 5,
        "session_max_age": 1234,
        "session_timeout": 321,
    }


def test_every_rendered_part_section_uses_one_naming_style(tmp_path):
    config = _load(tmp_path)
    text = write_trytond_conf(config).read_text()
    ours = {line.strip("[]") for line in text.splitlines() if line.startswith("[ops")}
    assert ours == {model.TRYTOND_SECTION for model in PARTS.values()}
    assert all(name.startswith("ops_") and " " not in name for name in ours)
    assert "redis_" not in text.split("[cache]")[1].split("[")[0]  # trytond's section is its own
