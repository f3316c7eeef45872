import os

# `up` and `deploy render` install the web client (sao) from npm by default: the tests that
# are about it (tests/deploy/test_web_client.py) ask for it, every other test stays offline
os.environ.setdefault("TRYTON_OPS_WEB__CLIENT", "none")

pytest_plugins = ["tryton_ops.testing.plugin"]
