"""Opt-in accelerators: verified, switchable fixes of trytond's own hot spots.

Each accelerator patches one trytond function when a trytond process starts (through a
`[wsgi middleware]` factory), only on a trytond series it was verified against. See
docs/accel.md for what each one changes, why it is safe and what it gains.
"""

from tryton_ops.accel.registry import ACCELERATORS, Accelerator, accel_status

__all__ = ["ACCELERATORS", "Accelerator", "accel_status"]
