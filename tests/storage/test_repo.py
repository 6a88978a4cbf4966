"""Storage tests; each runs on SQLite and, when CHONNGHE_TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.storage.db import create_engine, migrate
from bot.storage.models import Delivery, QuestionLog, SubscriptionEvent
from bot.storage.repo import Store
from bot.types import UserRef
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)

ALICE = UserRef("telegram", "1001")


async def test_user_created_once_and_last_seen_updated(store: Store, clock):
    first = await store.users.touch(ALICE, "Alice")
    clock.advance(minutes=5)
    again = await store.users.touch(ALICE)
    assert first.id == again.id
    assert again.last_seen_at == clock.now()
    assert again.created_at == clock.now() - timedelta(minutes=5)


async def test_same_platform_id_on_two_channels_is_two_users(store: Store):
    a = await store.users.touch(ALICE)
    b = await store.users.touch(UserRef("zalo_bot", "1001"))
    assert a.id != b.id


async def test_subscriptions_record_every_change(store: Store):
    user = await store.users.touch(ALICE)
    assert await store.subscriptions.add(user.id, "tuyen_sinh", "telegram") is True
    assert await store.subscriptions.add(user.id, "tuyen_sinh", "telegram") is False
    assert await store.subscriptions.add(user.id, "su_kien", "telegram") is True
    assert await store.subscriptions.topics(user.id) == ["su_kien", "tuyen_sinh"]
    assert await store.subscriptions.remove(user.id, None, "telegram") == ["su_kien", "tuyen_sinh"]
    assert await store.subscriptions.topics(user.id) == []
    async with store.session() as s:
        events = (await s.execute(sa.select(SubscriptionEvent.topic, SubscriptionEvent.action)
                                  .order_by(SubscriptionEvent.id))).all()
    assert events == [("tuyen_sinh", "subscribe"), ("su_kien", "subscribe"),
                      ("su_kien", "unsubscribe"), ("tuyen_sinh", "unsubscribe")]


async def test_state_survives_a_new_store_on_the_same_database(store: Store, db_url, clock):
    user = await store.users.touch(ALICE)
    await store.users.set_state(user.id, "onboarding", "role", {"age": "15", "chữ": "việt"})
    engine = create_engine(db_url)
    try:
        other = Store(engine, clock)
        state = await other.users.get_state(user.id)
    finally:
        await engine.dispose()
    assert (state.flow, state.step, state.data) == ("onboarding", "role", {"age": "15", "chữ": "việt"})


async def test_delete_user_data_keeps_questions_unlinked(store: Store):
    user = await store.users.touch(ALICE)
    await store.subscriptions.add(user.id, "tuyen_sinh", "telegram")
    await store.users.set_state(user.id, "x", "y")
    qid = await store.questions.log(
        user.id, "telegram", "học nghề ở đâu", "hoc nghe o dau", "nghe.han", 0.9, True
    )
    await store.cases.open(user.id, "cần tư vấn")
    from bot.storage.kv import chat_key

    await store.kv.set(chat_key(ALICE.channel, ALICE.user_id, "menu"), "role:hs_thcs|role:hs_thpt")
    await store.kv.set(chat_key(ALICE.channel, ALICE.user_id + "9", "menu"), "someone else's")
    await store.privacy.delete(user.id)
    assert await store.users.get(ALICE) is None
    assert await store.kv.get(chat_key(ALICE.channel, ALICE.user_id, "menu")) is None  # what adapters kept
    assert await store.kv.get(chat_key(ALICE.channel, ALICE.user_id + "9", "menu")) == "someone else's"
    async with store.session() as s:
        row = await s.get(QuestionLog, qid)
        events = (await s.execute(sa.select(sa.func.count()).select_from(SubscriptionEvent))).scalar_one()
    assert row is not None and row.user_id is None and row.text == "học nghề ở đâu"
    assert events == 0
    # A returning person starts fresh.
    fresh = await store.users.touch(ALICE)
    assert fresh.id != user.id and await store.subscriptions.topics(fresh.id) == []


async def test_long_question_is_truncated_not_lost(store: Store):
    qid = await store.questions.log(None, "cli", "a" * 100_000, "a", None, 0.0, False)
    async with store.session() as s:
        row = await s.get(QuestionLog, qid)
    assert len(row.text) == 4000


async def test_questions_asked_together_are_one_insert_and_each_gets_its_own_id(store: Store):
    import asyncio

    inserts: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO QUESTIONS"):
            inserts.append(statement)

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        log = store.questions.log
        ids = await asyncio.gather(*(log(None, "web", f"câu {n}", f"cau {n}", None, 0.0, False)
                                     for n in range(40)))
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
    assert len(inserts) == 1  # with RETURNING in parameter order SQLite ran 40
    async with store.session() as s:
        texts = dict((await s.execute(sa.select(QuestionLog.id, QuestionLog.text))).all())
    assert [texts[ident] for ident in ids] == [f"câu {n}" for n in range(40)]


async def test_questions_wait_out_a_database_that_went_away(store: Store, monkeypatch):
    import sqlalchemy as sa

    import bot.storage.questions as questions

    monkeypatch.setattr(questions, "QUESTION_RETRY_MIN", 0.01)
    real, failures = store.questions._insert, []

    async def flaky(rows):
        if len(failures) < 3:  # the database restarts: three tries fail
            failures.append(len(rows))
            raise sa.exc.OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
        return await real(rows)

    monkeypatch.setattr(store.questions, "_insert", flaky)
    for i in range(5):
        store.questions.log_later(None, "telegram", f"câu hỏi {i}", f"cau hoi {i}", None, 0.0, False)
    assert await store.flush(give_up_after=10) == 0
    async with store.session() as s:
        texts = sorted((await s.execute(sa.select(QuestionLog.text))).scalars())
    assert texts == [f"câu hỏi {i}" for i in range(5)] and len(failures) == 3


async def test_shutdown_does_not_hang_on_a_database_that_stays_away(store: Store, monkeypatch):
    import sqlalchemy as sa

    async def down(rows):
        raise sa.exc.OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(store.questions, "_insert", down)
    store.questions.log_later(None, "telegram", "câu hỏi", "cau hoi", None, 0.0, False)
    assert await store.flush(give_up_after=0.3) == 1  # still queued, reported, not silently dropped
    await store.close()


async def test_redelivered_update_seen_once(store: Store, clock):
    assert await store.dedup.first_time("telegram", "42") is True
    assert await store.dedup.first_time("telegram", "42") is False
    assert await store.dedup.first_time("zalo_oa", "42") is True
    clock.advance(days=3)
    assert await store.dedup.prune(timedelta(days=2)) == 2
    assert await store.dedup.first_time("telegram", "42") is True


async def test_kv_setdefault_keeps_first_value(store: Store):
    assert await store.kv.setdefault("secret", "a") == "a"
    assert await store.kv.setdefault("secret", "b") == "a"


async def test_feedback_only_on_own_question(store: Store):
    alice = await store.users.touch(ALICE)
    bob = await store.users.touch(UserRef("telegram", "2002"))
    qid = await store.questions.log(alice.id, "telegram", "q", "q", None, 0.1, False)
    assert await store.questions.set_feedback(qid, bob.id, 1) is False
    assert await store.questions.set_feedback(qid, alice.id, -1) is True


async def test_migrate_is_idempotent_and_keeps_data(store: Store, db_url, clock):
    user = await store.users.touch(ALICE)
    engine = create_engine(db_url)
    try:
        await migrate(engine)  # a restart applies migrations again: nothing lost
        assert (await Store(engine, clock).users.get(ALICE)).id == user.id
    finally:
        await engine.dispose()


async def test_delivery_uniqueness(store: Store):
    from bot.storage.models import Broadcast

    user = await store.users.touch(ALICE)
    async with store.session() as s:
        b = Broadcast(text="x")
        s.add(b)
        await s.flush()
        s.add(Delivery(broadcast_id=b.id, user_id=user.id, channel="telegram", platform_id="1001"))
    with pytest.raises(sa.exc.IntegrityError):
        async with store.session() as s:
            s.add(Delivery(broadcast_id=b.id, user_id=user.id, channel="telegram", platform_id="1001"))
