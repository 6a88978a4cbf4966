"""The staff wizard /guitin and /lichgui, called as plain handlers (no channel needed)."""

from __future__ import annotations

import pytest

from bot.types import Incoming, UserRef
from handlers import broadcasts as h
from handlers.router import Ctx
from handlers.services import Services
from tests.scheduler.conftest import add_subscribers

STAFF = UserRef("telegram", "42")


class Nobody:
    async def send(self, to, reply):
        return None


@pytest.fixture
def services(settings, store, clock, broadcasts) -> Services:
    s = Services(settings=settings.model_copy(update={"staff_telegram_ids": [42]}), store=store, content=None,
                 clock=clock, messenger=Nobody())
    s.broadcasts = broadcasts
    return s


async def say(services: Services, who: UserRef, text: str = "", payload: str | None = None):
    """One turn: route like the router would (command, payload prefix, flow) and return the replies."""
    user = await services.store.touch_user(who)
    state = await services.store.get_state(user.id)
    incoming = Incoming(who, text=text, payload=payload)
    if payload:
        prefix, *args = payload.split(":")
        assert prefix == h.P
        return await h.wizard_button(Ctx(incoming, user, state, services, args))
    command = incoming.command
    if command:
        handler = {"guitin": h.start_wizard, "lichgui": h.upcoming}[command[0]]
        return await handler(Ctx(incoming, user, state, services, command[1]))
    assert state.flow == h.FLOW
    return await h.wizard_text(Ctx(incoming, user, state, services))


def payloads(replies) -> list[str]:
    return [b.payload for r in replies for b in r.flat_buttons if b.payload]


async def test_step_by_step_to_a_scheduled_broadcast(services, store, broadcasts):
    await add_subscribers(store, 3)
    replies = await say(services, STAFF, "/guitin")
    assert "bước 1/4" in replies[0].text
    replies = await say(services, STAFF, "")
    assert "trống" in replies[0].text  # empty text is refused, the step stays
    replies = await say(services, STAFF, "Mùa tuyển sinh đã mở!")
    assert "gt:t:tuyen_sinh" in payloads(replies)
    replies = await say(services, STAFF, payload="gt:next")
    assert "ít nhất một chủ đề" in replies[0].text
    replies = await say(services, STAFF, payload="gt:t:tuyen_sinh")
    assert any(b.label.startswith("✅ Tuyển sinh") for b in replies[0].flat_buttons)
    replies = await say(services, STAFF, payload="gt:next")
    assert "Bước 3/4" in replies[0].text
    replies = await say(services, STAFF, "2026-09-01 22:00")  # quiet hours: refused, offered the morning
    assert "giờ yên tĩnh" in replies[0].text and "gt:move" in payloads(replies)
    replies = await say(services, STAFF, "2026-09-02 09:00")
    assert "Gửi tới: 3 người (Telegram 3)" in replies[0].text and "2026-09-02 09:00" in replies[0].text
    assert replies[1].text.startswith("Mùa tuyển sinh đã mở!") and "gt:ok" in payloads(replies)
    replies = await say(services, STAFF, payload="gt:ok")
    assert "Đã lên lịch tin #" in replies[0].text
    rows = await broadcasts.upcoming()
    assert len(rows) == 1 and rows[0].status == "scheduled" and rows[0].created_by == "telegram:42"
    listing = await say(services, STAFF, "/lichgui")
    assert f"#{rows[0].id} · 2026-09-02 09:00 · đã lên lịch · Tuyển sinh" in listing[0].text
    user = await store.get_user(STAFF)
    assert (await store.get_state(user.id)).flow is None


async def test_move_out_of_quiet_hours_and_cancel(services, store, broadcasts):
    await add_subscribers(store, 1)
    await say(services, STAFF, "/guitin")
    await say(services, STAFF, "Tin buổi tối")
    await say(services, STAFF, payload="gt:t:tuyen_sinh")
    await say(services, STAFF, payload="gt:next")
    await say(services, STAFF, "2026-09-01 23:30")
    replies = await say(services, STAFF, payload="gt:move")
    assert "2026-09-02 07:00" in replies[0].text
    replies = await say(services, STAFF, payload="gt:cancel")
    assert "Đã hủy" in replies[0].text
    assert await broadcasts.upcoming() == []


async def test_topic_with_nobody_is_refused(services, store):
    await add_subscribers(store, 1)
    await say(services, STAFF, "/guitin")
    await say(services, STAFF, "Việc làm mới")
    await say(services, STAFF, payload="gt:t:viec_lam")
    replies = await say(services, STAFF, payload="gt:next")
    assert "Không có ai đăng ký" in replies[0].text


async def test_non_staff_is_refused_and_logged(services, store):
    from bot.storage.models import StaffAudit

    stranger = UserRef("telegram", "7")
    replies = await say(services, stranger, "/guitin")
    assert "chỉ dành cho cán bộ" in replies[0].text
    replies = await say(services, stranger, "/lichgui")
    assert "chỉ dành cho cán bộ" in replies[0].text
    async with store.session() as s:
        import sqlalchemy as sa

        rows = (await s.execute(sa.select(StaffAudit.command, StaffAudit.allowed))).all()
    assert ("/guitin", False) in rows and ("/lichgui", False) in rows
    user = await store.get_user(stranger)
    assert (await store.get_state(user.id)).flow is None


def test_routes_are_staff_only():
    assert all(route.staff for table in (h.router.commands, h.router.payloads, h.router.flows)
               for route in table.values())
    assert set(h.router.commands) == {"guitin", "lichgui"}
