"""trytond's module checks plus the `ir.session` contract, whichever store is configured.

Run as is, the contract tests exercise trytond's own table-backed sessions; with
`TRYTOND_OPS_SESSIONS__STORE=redis` and `TRYTOND_OPS_SESSIONS__REDIS_URI`, the very same tests
exercise the Redis store: that is the proof that both answer alike.
`python -m unittest discover -s tryton_ops.modules.ops_session.tests`
"""

import datetime
import time

from trytond import config
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction

HERE = "10.0.0.1"
ELSEWHERE = "10.9.9.9"


class OpsSessionTestCase(ModuleTestCase):
    "Test ops_session module"

    module = "ops_session"

    def _set_session_option(self, option, value):
        old = config.get("session", option)
        config.set("session", option, str(value))
        self.addCleanup(config.set, "session", option, old)

    def _user(self, login):
        pool = Pool()
        User, Session = pool.get("res.user"), pool.get("ir.session")
        (user,) = User.create([{"name": login, "login": login}])
        # Redis is not rolled back with the tests: forget sessions of an id used before
        Session.clear([user])
        return user

    def _new(self, user, address=HERE):
        Session = Pool().get("ir.session")
        with Transaction().set_user(user.id), self._from(address):
            return Session.new()

    def _from(self, address):
        return Transaction().set_context(_request={"remote_addr": address})

    def _check(self, user_id, key, address=HERE):
        Session = Pool().get("ir.session")
        with self._from(address):
            return Session.check(user_id, key)

    @with_transaction()
    def test_contract_login_then_check(self):
        "A new session is valid for its user, from its address only"
        alice, bob = self._user("alice"), self._user("bob")
        key = self._new(alice)
        self.assertEqual(len(key), 64)
        self.assertIs(self._check(alice.id, key), True)
        self.assertIsNone(self._check(bob.id, key))
        self.assertIsNone(self._check(alice.id, key, address=ELSEWHERE))
        self.assertIsNone(self._check(alice.id, "0" * 64))
        self.assertNotEqual(key, self._new(alice))

    @with_transaction()
    def test_contract_max_age(self):
        "Past max_age a session is expired once (False), then unknown (None)"
        self._set_session_option("max_age", 2)
        alice = self._user("alice")
        key = self._new(alice)
        self.assertIs(self._check(alice.id, key), True)
        time.sleep(2.2)
        self.assertIs(self._check(alice.id, key), False)
        self.assertIsNone(self._check(alice.id, key))

    @with_transaction()
    def test_contract_fresh_session_timeout(self):
        "check_timeout accepts a session used within timeout and removes an idle one"
        Session = Pool().get("ir.session")
        self._set_session_option("timeout", 2)
        alice = self._user("alice")
        key = self._new(alice)
        self.assertIs(Session.check_timeout(alice.id, key), True)
        time.sleep(2.2)
        self.assertIs(Session.check_timeout(alice.id, key), False)
        self.assertIsNone(self._check(alice.id, key))

    @with_transaction()
    def test_contract_logout(self):
        "remove ends the session and answers the login, then nothing"
        Session = Pool().get("ir.session")
        alice = self._user("alice")
        key = self._new(alice)
        other = self._new(alice)
        self.assertEqual(Session.remove(key), "alice")
        self.assertIsNone(self._check(alice.id, key))
        self.assertIsNone(Session.remove(key))
        self.assertIs(self._check(alice.id, other), True)

    @with_transaction()
    def test_contract_password_change_and_deactivation_end_sessions(self):
        "A new password, or deactivation, ends every session of that user only"
        User = Pool().get("res.user")
        alice, bob = self._user("alice"), self._user("bob")
        keys = [self._new(alice), self._new(alice)]
        bob_key = self._new(bob)
        self.assertEqual(User(alice.id).sessions, 2)
        User.write([alice], {"password": "Another-Secret-4821"})
        self.assertEqual([self._check(alice.id, k) for k in keys], [None, None])
        self.assertIs(self._check(bob.id, bob_key), True)
        User.write([bob], {"active": False})
        self.assertIsNone(self._check(bob.id, bob_key))

    @with_transaction()
    def test_contract_password_reset_login(self):
        "A password reset lets the user log in with the reset code, into a working session"
        pool = Pool()
        User = pool.get("res.user")
        alice = self._user("alice")
        User.write([alice], {"email": "alice@example.com"})
        alice.password_reset = "Reset-Code-9931"
        alice.password_reset_expire = datetime.datetime.now() + datetime.timedelta(hours=1)
        alice.save()
        uid = User.get_login("alice", {"password": "Reset-Code-9931"})
        self.assertEqual(uid, alice.id)
        key = self._new(alice)
        self.assertIs(self._check(alice.id, key), True)
        User.write([alice], {"password": "Chosen-After-Reset-77"})
        self.assertIsNone(self._check(alice.id, key))


del ModuleTestCase
