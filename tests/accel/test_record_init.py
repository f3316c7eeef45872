"""`record_init`: stock's ModelStorage.__init__ minus one assert, on verified sources only.

Its effect on real reads is covered by the stack equivalence test and trytond's suites (both
run with every accelerator on); here: what is compiled, and the refusals.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_compiled_from_stock_without_the_quadratic_assert():
    run(
        """
        from trytond.model.modelstorage import ModelStorage
        from tryton_ops.accel import record_init
        stock = ModelStorage.__init__
        def genexprs(func):
            return [c.co_name for c in func.__code__.co_consts if hasattr(c, "co_name")]
        assert genexprs(stock) == ["<genexpr>"]  # all(isinstance(i, int) for i in _ids)
        record_init.apply()
        new = ModelStorage.__init__
        assert record_init.is_applied() and new.__wrapped__ is stock
        assert genexprs(new) == []
        # same file and lines as stock: tracebacks point at trytond's source
        assert new.__code__.co_filename == stock.__code__.co_filename
        assert new.__code__.co_firstlineno == stock.__code__.co_firstlineno
        assert new.__qualname__ == "ModelStorage.__init__"
        # everything else is stock's: same names used, same constants
        assert set(new.__code__.co_names) <= set(stock.__code__.co_names) | {"ModelStorage"}
        assert "LRUDictTransaction" in new.__code__.co_names  # other asserts kept
        try:
            record_init.apply()
        except record_init.NotApplicable as exc:
            assert "already replaced" in str(exc)
        else:
            raise SystemExit("applied twice")
        """
    )


def test_refused_when_the_source_is_not_the_verified_one():
    run(
        """
        from trytond.model.modelstorage import ModelStorage
        from tryton_ops.accel import record_init
        stock = ModelStorage.__init__
        def wrapper(self, id=None, **kwargs):
            stock(self, id, **kwargs)
        ModelStorage.__init__ = wrapper
        try:
            record_init.apply()
        except record_init.NotApplicable as exc:
            assert "cannot be read" in str(exc) or "not the code verified" in str(exc), exc
        else:
            raise SystemExit("applied over unknown code")
        assert ModelStorage.__init__ is wrapper
        """
    )
