pytest_plugins = ["tryton_ops.testing.plugin"]
