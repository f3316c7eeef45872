"""AsyncClient: the same surface awaited; many tasks on one session; one re-login for all."""

from __future__ import annotations

import asyncio

import pytest

from tests.client.test_records import unique
from tryton_ops.client import AsyncClient, NotLoaded, SessionExpired, UserError


def run(coroutine):
    return asyncio.run(coroutine)


async def _login(stack, **options) -> AsyncClient:
    session = AsyncClient(stack.url, stack.database.name, **options)
    await session.login("admin", stack.database.password, relogin=options.pop("relogin", False))
    return session


def test_many_tasks_share_one_session(stack):
    async def main():
        async with await _login(stack, batch_size=10) as session:
            Party = session.model("party.party")
            name = unique("task")

            async def worker(n: int) -> tuple[int, str]:
                # explicit codes: trytond's party sequence races between workers on SQLite
                ids = await Party.create([{"name": f"{name} {n}", "code": f"{name}-{n}"}])
                (party,) = await Party.find([("id", "in", ids)], fields=["name"])
                party.name = f"{party.name} saved"
                await party.save()
                (row,) = await Party.read([party.id], ["name"])
                return party.id, row["name"]

            results = await asyncio.gather(*(worker(n) for n in range(16)))
            assert sorted(r[1] for r in results) == sorted(f"{name} {n} saved" for n in range(16))
            assert len({r[0] for r in results}) == 16

            records = Party.browse([r[0] for r in results])
            with pytest.raises(NotLoaded, match="await model"):
                _ = records[0].name
            await Party.fetch(records, ["name", "addresses.street"])  # 4 batches, concurrently
            assert sorted(r.name for r in records) == sorted(r[1] for r in results)
            seen = [p.id async for p in Party.iterate([("name", "like", f"{name}%")], page=7)]
            assert seen == sorted(r[0] for r in results)
            with pytest.raises(UserError):
                await session.model("currency.currency").create([{"name": "no code"}])

    run(main())


def test_one_relogin_for_many_tasks_after_expiry(stack):
    async def main():
        session = AsyncClient(stack.url, stack.database.name)
        await session.login("admin", stack.database.password, relogin=True)
        logins = []
        session.transport.http.event_hooks["request"].append(
            lambda request: _record_login(request, logins)
        )
        stale = session.auth
        other = AsyncClient(stack.url, stack.database.name)
        other.auth = stale
        await other.close()  # logs the shared session out on the server
        counts = await asyncio.gather(
            *(session.model("party.party").search_count([]) for _ in range(20))
        )
        assert len(set(counts)) == 1
        assert len(logins) == 1 and session.auth != stale
        await session.close()

        plain = AsyncClient(stack.url, stack.database.name)
        await plain.login("admin", stack.database.password)
        plain_auth = plain.auth
        plain.auth = None
        other = AsyncClient(stack.url, stack.database.name)
        other.auth = plain_auth
        await other.close()
        plain.auth = plain_auth
        with pytest.raises(SessionExpired):
            await plain.model("party.party").search([])
        plain.auth = None
        await plain.close()

    run(main())


async def _record_login(request, logins: list) -> None:
    if b'"common.db.login"' in request.content:
        logins.append(request)
