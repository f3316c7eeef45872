"""The counts per scale: proportional, and bad scales refused before anything runs."""

from __future__ import annotations

import pytest

from tryton_ops.capacity import sizing
from tryton_ops.errors import UsageError


def test_counts_are_proportional_to_the_scale():
    one, seven = sizing.counts(1), sizing.counts(7)
    for kind, count in one.as_dict().items():
        assert count > 0
        assert seven.as_dict()[kind] == 7 * count


@pytest.mark.parametrize("scale", [0, -1, -20, True, 1.5, "3"])
def test_bad_scales_are_usage_errors(scale):
    with pytest.raises(UsageError, match="--scale must be a whole number of at least 1"):
        sizing.counts(scale)


def test_every_state_is_represented_at_scale_one():
    states = [sizing.final_state(i) for i in range(sizing.counts(1).purchases)]
    assert set(states) == {"quoted", "confirmed", "processed"}
    assert states.count("processed") > states.count("quoted")
