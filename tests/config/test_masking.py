import pytest

from tryton_ops.config.masking import mask_uri, mask_value

pytestmark = pytest.mark.one_series  # the same on every trytond series


def test_mask_uri_hides_only_the_password():
    assert mask_uri("postgresql://u:pw@h:5432/") == "postgresql://u:***@h:5432/"
    assert mask_uri("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_uri("postgresql://u@h/") == "postgresql://u@h/"
    assert mask_uri("sqlite://") == "sqlite://"
    assert mask_uri("unix:///run/r.sock?db=1&password=pw") == "unix:///run/r.sock?db=1&password=***"
    assert mask_uri("unix://:pw@/run/r.sock") == "unix://:***@/run/r.sock"


def test_mask_value_nested():
    data = {"db": {"uri": "postgresql://u:pw@h/", "admin_password_file": "/x"}, "token": "abc"}
    assert mask_value("", data) == {
        "db": {"uri": "postgresql://u:***@h/", "admin_password_file": "/x"},
        "token": "***",
    }
