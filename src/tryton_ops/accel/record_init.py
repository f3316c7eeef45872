"""Accelerator `record_init`: no quadratic re-check of the id list in `ModelStorage.__init__`.

Every record instance trytond builds while reading (`read`, `search_read`, relation fields,
`browse`) gets the list of ids of its batch, shared by the whole batch, and stock
`ModelStorage.__init__` runs `assert all(isinstance(i, int) for i in _ids)` on it: a Python
loop over the whole batch for each record of the batch, so O(n²) per read. For `search_read`
of 200 parties with their relations it is about a fifth of the server time.

The replacement is stock's own `__init__`, compiled from trytond's source with only that
assert line removed (and `super()` spelled `super(ModelStorage, self)`, which zero-argument
`super()` means there). It is built only if the source is byte for byte the one verified (a
SHA-256 per trytond series), so a trytond release that changes the method is refused. Safe
because an assert checks nothing a correct caller can get wrong here: every id entering the
list is an `int()` conversion (`browse`, `__init__` itself) or an integer column read from the
database, and `python -O` (documented for production by Python, not forbidden by trytond)
skips it too. The cheaper `assert id in _ids` (a C-level scan) is kept.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import textwrap

from tryton_ops.accel.json_response import NotApplicable

# sha256 of inspect.getsource(ModelStorage.__init__) on the verified releases
VERIFIED_SOURCES = {
    "0c8bf12b1182dad7459d35dda92a6d25d1cf329297a961ac00ce74b0db3160b2": "8.0.12",
    "62e5812b38e0b9e047e081c4d6a9f7e3faacfeece66f4d3b2e4b928141522fc2": "8.2.1",
}
REMOVED = "assert all(isinstance(i, int) for i in _ids)"


def apply() -> None:
    from trytond.model import modelstorage

    cls = modelstorage.ModelStorage
    stock = cls.__dict__["__init__"]
    if getattr(stock, "__tryton_ops_accel__", None):
        raise NotApplicable("ModelStorage.__init__ was already replaced")
    try:
        source = inspect.getsource(stock)
    except (OSError, TypeError):
        raise NotApplicable("the source of ModelStorage.__init__ cannot be read") from None
    if hashlib.sha256(source.encode()).hexdigest() not in VERIFIED_SOURCES:
        raise NotApplicable(
            "ModelStorage.__init__ is not the code verified (8.0.12, 8.2.1); it was changed "
            "or already replaced"
        )
    lines = textwrap.dedent(source).splitlines(keepends=True)
    kept = []
    for line in lines:
        if line.strip() == REMOVED:
            kept.append("\n")  # keep line numbers: tracebacks point at trytond's file
        else:
            kept.append(line.replace("super().__init__(", "super(ModelStorage, self).__init__("))
    tree = ast.parse("".join(kept))
    first_line = stock.__code__.co_firstlineno
    ast.increment_lineno(tree, first_line - 1)
    namespace: dict = {}
    exec(compile(tree, stock.__code__.co_filename, "exec"), modelstorage.__dict__, namespace)
    init = namespace["__init__"]
    init.__qualname__ = stock.__qualname__
    init.__doc__ = stock.__doc__
    init.__wrapped__ = stock
    init.__tryton_ops_accel__ = "record_init"
    cls.__init__ = init


def is_applied() -> bool:
    from trytond.model.modelstorage import ModelStorage

    return getattr(ModelStorage.__dict__["__init__"], "__tryton_ops_accel__", None) == (
        "record_init"
    )
