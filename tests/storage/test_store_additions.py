"""Store methods added for the conversation (enter, first_times, case messages), on every backend."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.storage.models import QuestionLog
from bot.storage.repo import Store
from bot.types import UserRef
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)

AN = UserRef("telegram", "1001")


async def test_enter_creates_reactivates_and_writes_last_seen_sparingly(store: Store, clock):
    user, state = await store.users.enter(AN, "An")
    assert user.id and state.flow is None and user.display_name == "An"
    await store.users.set_state(user.id, "onboard", "role", {"x": 1})
    await store.users.mark_inactive(AN, "blocked")
    clock.advance(seconds=10)
    again, state = await store.users.enter(AN, "An B")
    assert again.id == user.id and again.active and again.display_name == "An B"
    assert (state.flow, state.step, state.data) == ("onboard", "role", {"x": 1})
    assert again.last_seen_at == user.last_seen_at  # within a minute: not rewritten
    clock.advance(minutes=2)
    later, _ = await store.users.enter(AN)
    assert later.last_seen_at == clock.now()


async def test_enter_concurrently_creates_one_user(store: Store):
    results = await asyncio.gather(*(store.users.enter(AN) for _ in range(5)))
    assert len({user.id for user, _ in results}) == 1


async def test_first_times_batches(store: Store):
    assert await store.dedup.first_times("telegram", ["1", "2", "2"]) == {"1", "2"}
    assert await store.dedup.first_times("telegram", ["2", "3"]) == {"3"}
    assert await store.dedup.first_times("zalo_bot", ["3"]) == {"3"}
    assert await store.dedup.first_times("telegram", []) == set()
    assert await store.dedup.first_time("telegram", "3") is False


async def test_case_messages(store: Store):
    user, _ = await store.users.enter(AN)
    case = await store.cases.open(user.id, "câu hỏi")
    await store.cases.set_message(case.id, "-1", "10")
    await store.cases.link_message(case.id, "-1", "11")
    await store.cases.link_message(case.id, "-1", "11")  # twice is fine
    assert (await store.cases.for_message("-1", "10")).id == case.id
    assert (await store.cases.for_message("-1", "11")).id == case.id
    assert await store.cases.for_message("-1", "12") is None
    assert (await store.cases.get(case.id)).question == "câu hỏi"
    await store.privacy.delete(user.id)
    assert await store.cases.for_message("-1", "11") is None


async def test_questions_logged_later_are_flushed_before_reads_and_deletes(store: Store):
    user, _ = await store.users.enter(AN)
    store.questions.log_later(user.id, "telegram", "một", "mot", "test.a", 0.9, True)
    store.questions.log_later(user.id, "telegram", "hai", "hai", None, 0.1, False)
    assert [q.text for q in await store.questions.recent(user.id)] == ["một", "hai"]
    assert (await store.questions.latest(user.id, answered=True)).text == "một"
    assert await store.questions.set_feedback_latest(user.id, "test.a", -1) is True
    assert await store.questions.set_feedback_latest(user.id, "test.zzz", 1) is False
    store.questions.log_later(user.id, "telegram", "ba", "ba", None, 0.0, False)
    await store.privacy.delete(user.id)  # the queued question is written first, then unlinked
    store.questions.log_later(user.id, "telegram", "bốn: người đã xóa", "bon", None, 0.0, False)
    other, _ = await store.users.enter(UserRef("telegram", "2002"))
    store.questions.log_later(other.id, "telegram", "năm", "nam", None, 0.0, False)
    await store.flush()  # the row pointing at a deleted user fails alone; the other one is kept
    async with store.session() as s:
        rows = (
            await s.execute(sa.select(QuestionLog.text, QuestionLog.user_id).order_by(QuestionLog.id))
        ).all()
    assert [r.text for r in rows][:3] == ["một", "hai", "ba"]
    assert rows[-1] == ("năm", other.id)
    assert all(r.user_id is None for r in rows[:3])


async def test_write_gate_puts_urgent_writes_first_without_starving_the_rest(store: Store, monkeypatch):
    from bot.storage.repo import _WriteGate

    monkeypatch.setattr(_WriteGate, "PATIENCE", 0.2)
    gate = _WriteGate()
    order: list[str] = []

    async def write(name: str, urgent: bool, hold: float = 0.0):
        async with gate.hold(urgent):
            order.append(name)
            await asyncio.sleep(hold)

    first = asyncio.create_task(write("u1", True, 0.05))
    await asyncio.sleep(0)
    background = asyncio.create_task(write("log", False))
    await asyncio.sleep(0)
    second = asyncio.create_task(write("u2", True))
    await asyncio.gather(first, background, second)
    assert order == ["u1", "u2", "log"]

    # A steady stream of urgent writes: the background write still gets its turn after PATIENCE.
    order.clear()
    stop = asyncio.Event()

    async def stream():
        while not stop.is_set():
            await write("u", True, 0.01)

    streams = [asyncio.create_task(stream()) for _ in range(3)]
    await asyncio.wait_for(write("log", False), 2)
    stop.set()
    await asyncio.gather(*streams)
    assert "log" in order
