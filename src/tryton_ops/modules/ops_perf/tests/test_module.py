"""trytond's module checks plus the RPC guard: `python -m unittest discover -s <this dir>`."""

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction


class OpsPerfTestCase(ModuleTestCase):
    "Test ops_perf module"

    module = "ops_perf"

    @with_transaction()
    def test_refused_to_non_administrators(self):
        "A user who is not an administrator cannot switch full capture"
        pool = Pool()
        User = pool.get("res.user")
        Perf = pool.get("ops.perf")
        (user,) = User.create([{"name": "Bob", "login": "bob"}])
        with Transaction().set_user(user.id):
            for call in (
                lambda: Perf.enable("bob", "5m"),
                lambda: Perf.disable("bob"),
                Perf.list_active,
            ):
                with self.assertRaises(AccessError):
                    call()

    @with_transaction()
    def test_analyzer_not_enabled(self):
        "Without the analyzer's [ops_perf] section, the administrator is told so"
        Perf = Pool().get("ops.perf")
        with Transaction().set_user(0):
            with self.assertRaisesRegex(UserError, "not enabled"):
                Perf.enable("admin", "5m")
            with self.assertRaisesRegex(UserError, "invalid duration"):
                Perf.enable("admin", "soon")


del ModuleTestCase
