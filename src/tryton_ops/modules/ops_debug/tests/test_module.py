"""trytond's module checks plus the RPC guard: `python -m unittest discover -s <this dir>`."""

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


class OpsDebugTestCase(ModuleTestCase):
    "Test ops_debug module"

    module = "ops_debug"

    def _user(self, login, admin):
        pool = Pool()
        User = pool.get("res.user")
        values = {"name": login, "login": login}
        if admin and "administrator" in User._fields:  # 8.2
            values["administrator"] = True
        elif admin:  # 8.0
            ModelData = pool.get("ir.model.data")
            values["groups"] = [("add", [ModelData.get_id("res", "group_admin")])]
        (user,) = User.create([values])
        return user.id

    @with_transaction()
    def test_admin_can_inspect(self):
        "An administrator sees the class chain of a model with file:line"
        Debug = Pool().get("ops.debug")
        with Transaction().set_user(self._user("debug_admin", True)):
            result = Debug.inspect({"target": "res.user", "views": False})
        self.assertEqual(result["kind"], "model")
        modules = [c["module"] for c in result["classes"] if c["module"]]
        self.assertIn("res", modules)
        self.assertTrue(all(c["line"] for c in result["classes"] if c["module"]))

    @with_transaction()
    def test_non_admin_refused(self):
        "Every RPC method refuses a non-administrator"
        Debug = Pool().get("ops.debug")
        with Transaction().set_user(self._user("debug_user", False)):
            for method in ("inspect", "checks", "record", "pyson", "eval", "history"):
                with self.subTest(method=method), self.assertRaises(AccessError):
                    getattr(Debug, method)({})

    @with_transaction()
    def test_eval_disabled_by_default(self):
        "Evaluation is refused unless [ops_debug] eval is set"
        Debug = Pool().get("ops.debug")
        with self.assertRaises(UserError) as cm:
            Debug.eval({"code": "1 + 1"})
        self.assertIn("disabled", cm.exception.message)

    @with_transaction()
    def test_unknown_model_suggests(self):
        "A misspelt model name gets close matches"
        Debug = Pool().get("ops.debug")
        with self.assertRaises(UserError) as cm:
            Debug.inspect({"target": "res.usr"})
        self.assertIn("res.user", cm.exception.message)

    @with_transaction()
    def test_pyson_round_trip(self):
        "PYSON encoded then decoded reads as it was written"
        Debug = Pool().get("ops.debug")
        text = "(Eval('state') != 'done') & ~Eval('active', False)"
        encoded = Debug.pyson({"op": "encode", "text": text})
        decoded = Debug.pyson({"op": "decode", "text": encoded["json"]})
        self.assertEqual(decoded["readable"], text)

    @with_transaction()
    def test_readable_pyson_round_trips(self):
        "Every states/domain/context PYSON of the pool reads back to the same JSON"
        from trytond.pyson import PYSONEncoder

        from tryton_ops.debug import pysonfmt

        checked = 0
        for _, Model in Pool().iterobject():
            for name, field in Model._fields.items():
                values = [*(field.states or {}).values()]
                values += [getattr(field, "domain", None), getattr(field, "context", None)]
                for value in values:
                    if not value or not pysonfmt.contains_pyson(value):
                        continue
                    with self.subTest(model=Model.__name__, field=name):
                        text = pysonfmt.readable(value)
                        rebuilt = pysonfmt.build(text)
                        self.assertEqual(
                            PYSONEncoder(sort_keys=True).encode(rebuilt),
                            PYSONEncoder(sort_keys=True).encode(value),
                            msg=text,
                        )
                        checked += 1
        self.assertGreater(checked, 50)


del ModuleTestCase
