"""Capacity: a realistic workload on the standard Tryton modules (`tryton-ops demo load`)."""
