"""doctor's accel family: refused accelerators and a combination that does not pay."""

from __future__ import annotations

from tryton_ops.testing.databases import make_config
from tryton_ops.views.doctor import Context, run
from tryton_ops.views.doctor.accel import check


def codes(tmp_path, version=None, **accel) -> dict[str, str]:
    ctx = Context(make_config(tmp_path, {"accel": accel}), environ={})
    return {f.code: f.severity for f in check(ctx, trytond_version=version)}


def test_refused_accelerator_is_a_warning(tmp_path):
    assert codes(tmp_path, "8.4.0", json_response=True) == {
        "accel.refused.json_response": "warning"
    }
    assert codes(tmp_path, "8.2.1", json_response=True) == {}
    assert codes(tmp_path, "8.4.0") == {}  # nothing enabled, nothing refused


def test_view_cache_alone_is_reported_then_cleared(tmp_path):
    assert codes(tmp_path, "8.2.1", view_cache=True) == {"accel.view-cache-alone": "info"}
    assert codes(tmp_path, "8.2.1", view_cache=True, json_response=True) == {}


def test_doctor_runs_the_family(tmp_path):
    ctx = Context(make_config(tmp_path, {"accel": {"view_cache": True}}), environ={})
    assert "accel.view-cache-alone" in {f.code for f in run(ctx)}
