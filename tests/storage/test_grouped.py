"""Store.grouped: concurrent small writes share one transaction; one that fails fails alone."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.storage.models import KeyValue
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


async def test_concurrent_writes_share_a_transaction_and_a_bad_one_fails_alone(store):
    K = KeyValue.__table__
    now = store.clock.now()

    def put(key: str):
        async def op(conn):
            await conn.execute(sa.insert(K).values(key=key, value="v", updated_at=now))
            return key
        return op

    async def bad(conn):
        await conn.execute(sa.insert(K).values(key="k1", value="again", updated_at=now))  # duplicate key

    results = await asyncio.gather(*(store.grouped(put(f"k{i}")) for i in range(20)), store.grouped(bad),
                                   return_exceptions=True)
    assert results[:20] == [f"k{i}" for i in range(20)]
    assert isinstance(results[20], sa.exc.IntegrityError)
    async with store.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(K))).scalar_one() == 20


async def test_concurrent_subscriptions_run_as_one_statement_each_kind_with_the_single_answers(store):
    from bot.storage.models import Subscription, SubscriptionEvent
    from bot.types import UserRef

    users = [u for u, _ in [await store.users.enter(UserRef("telegram", str(900 + i))) for i in range(6)]]
    assert await store.subscriptions.add(users[0].id, "tuyen_sinh", "telegram") is True  # held already
    assert await store.subscriptions.add(users[1].id, "tuyen_sinh", "telegram") is True
    assert await store.subscriptions.remove(users[1].id, "tuyen_sinh", "telegram") == ["tuyen_sinh"]  # left
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement.split()[0] + " " + statement.split()[2 if statement.startswith("INSERT")
                                                                          else 1])

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        results = await asyncio.gather(
            store.subscriptions.add(users[0].id, "tuyen_sinh", "telegram"),   # already subscribed
            store.subscriptions.add(users[1].id, "tuyen_sinh", "zalo_oa"),    # back, on another channel
            store.subscriptions.add(users[2].id, "tuyen_sinh", "telegram"),   # new
            store.subscriptions.add(users[2].id, "tuyen_sinh", "telegram"),   # the same again at once
            store.subscriptions.add(users[3].id, "su_kien", "telegram"),      # new
            *(store.subscriptions.add(users[i].id, "tuyen_sinh", "telegram") for i in (4, 5)))
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert results == [False, True, True, False, True, True, True]
    # One INSERT for the new ones, one SELECT and one UPDATE for those that exist, one INSERT of events.
    assert sorted(statements) == sorted(["INSERT subscriptions", "SELECT subscriptions.id,",
                                         "UPDATE subscriptions", "INSERT subscription_events"])
    S, E = Subscription.__table__, SubscriptionEvent.__table__
    async with store.engine.connect() as conn:
        active = (await conn.execute(sa.select(S.c.user_id, S.c.topic, S.c.channel)
                                     .where(S.c.active.is_(True)).order_by(S.c.user_id))).all()
        events = (await conn.execute(sa.select(E.c.user_id, E.c.action).order_by(E.c.id))).all()
    assert [(r.user_id, r.topic, r.channel) for r in active] == [
        (users[0].id, "tuyen_sinh", "telegram"), (users[1].id, "tuyen_sinh", "zalo_oa"),
        (users[2].id, "tuyen_sinh", "telegram"), (users[3].id, "su_kien", "telegram"),
        (users[4].id, "tuyen_sinh", "telegram"), (users[5].id, "tuyen_sinh", "telegram")]
    assert [e.action for e in events].count("subscribe") == 2 + 5  # the two before, five now


async def test_a_subscription_whose_person_was_deleted_fails_alone_in_a_batch(store):
    from bot.types import UserRef

    keep, gone = [(await store.users.enter(UserRef("telegram", uid)))[0] for uid in ("31", "32")]
    await store.privacy.delete(gone.id)
    results = await asyncio.gather(store.subscriptions.add(keep.id, "tuyen_sinh", "telegram"),
                                   store.subscriptions.add(gone.id, "tuyen_sinh", "telegram"),
                                   return_exceptions=True)
    assert results[0] is True
    assert isinstance(results[1], sa.exc.IntegrityError)  # the person's row is gone (foreign key)
    assert await store.subscriptions.topics(keep.id) == ["tuyen_sinh"]
