"""The staff wizard /guitin and /lichgui, called as plain handlers (no channel needed)."""

from __future__ import annotations

import pytest

from bot.types import Incoming, UserRef
from handlers import broadcasts as h
from handlers.buttons import Wizard
from handlers.router import Ctx
from handlers.services import Services
from handlers.steps import WIZARD
from tests.scheduler.conftest import add_subscribers

STAFF = UserRef("telegram", "42")


class Nobody:
    async def send(self, to, reply):
        return None


@pytest.fixture
def services(settings, store, clock, broadcasts) -> Services:
    return Services(
        settings=settings.model_copy(update={"staff_telegram_ids": [42]}),
        store=store,
        content=None,
        clock=clock,
        messenger=Nobody(),
        broadcasts=broadcasts,
    )


async def say(services: Services, who: UserRef, text: str = "", payload: str | None = None):
    """One turn: route like the router would (command, payload prefix, flow) and return the replies."""
    user = await services.store.users.touch(who)
    state = await services.store.users.get_state(user.id)
    incoming = Incoming(who, text=text, payload=payload)
    if payload:
        return await h.wizard_button(Ctx(incoming, user, state, services), Wizard.unpack(payload))
    command = incoming.command
    if command:
        handler = {"guitin": h.start_wizard, "lichgui": h.upcoming}[command[0]]
        return await handler(Ctx(incoming, user, state, services, command[1]))
    assert state.flow == WIZARD.name
    return await WIZARD.steps[state.step](Ctx(incoming, user, state, services))


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
    user = await store.users.get(STAFF)
    assert (await store.users.get_state(user.id)).flow is None


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
    user = await store.users.get(stranger)
    assert (await store.users.get_state(user.id)).flow is None


def test_routes_are_staff_only():
    assert all(route.staff for table in (h.router.commands, h.router.buttons, h.router.flows)
               for route in table.values())
    assert set(h.router.commands) == {"guitin", "lichgui"}


async def test_send_now_at_night_is_moved_to_the_morning_on_request(services, store, broadcasts, clock):
    await add_subscribers(store, 2)
    clock.advance(hours=12, minutes=30)  # 22:30 in Hải Phòng
    await say(services, STAFF, "/guitin")
    await say(services, STAFF, "Tin gửi ngay")
    await say(services, STAFF, payload="gt:t:tuyen_sinh")
    await say(services, STAFF, payload="gt:next")
    replies = await say(services, STAFF, payload="gt:now")
    assert (
        "giờ yên tĩnh" in replies[0].text
        and "gt:move" in payloads(replies)
        and "gt:ok" not in payloads(replies)
    )
    replies = await say(services, STAFF, payload="gt:move")
    assert "Thời điểm: 2026-09-02 07:00" in replies[0].text
    await say(services, STAFF, payload="gt:ok")
    (row,) = await broadcasts.upcoming()
    assert broadcasts.local(row.send_at) == "2026-09-02 07:00"


async def test_edit_text_then_confirm_and_a_stale_button(services, store, broadcasts):
    await add_subscribers(store, 1)
    await say(services, STAFF, "/guitin")
    await say(services, STAFF, "Bản đầu")
    await say(services, STAFF, payload="gt:t:tuyen_sinh")
    await say(services, STAFF, payload="gt:next")
    await say(services, STAFF, payload="gt:now")
    replies = await say(services, STAFF, payload="gt:edit")
    assert "nội dung mới" in replies[0].text
    replies = await say(services, STAFF, "x" * 4001)
    assert "tối đa 4.000" in replies[0].text  # oversized: refused, the step stays
    replies = await say(services, STAFF, "Bản đã sửa")
    assert any(b.label.startswith("✅ Tuyển sinh") for b in replies[0].flat_buttons)  # topics kept
    await say(services, STAFF, payload="gt:next")
    replies = await say(services, STAFF, payload="gt:now")
    assert replies[1].text.startswith("Bản đã sửa")
    assert "gt:promo" not in payloads(replies)  # nobody on Zalo OA: no promotion switch
    await say(services, STAFF, payload="gt:ok")
    (row,) = await broadcasts.upcoming()
    assert row.text == "Bản đã sửa" and row.promotion is False
    replies = await say(services, STAFF, payload="gt:ok")  # an old button pressed again
    assert "đã kết thúc" in replies[0].text and len(await broadcasts.upcoming()) == 1


async def test_promotion_switch_shows_reach_and_warns(services, store, broadcasts):
    from datetime import timedelta

    from scheduler.store import Outcome

    await add_subscribers(store, 2)
    await add_subscribers(store, 3, channel="zalo_oa", start=1000)
    bstore = broadcasts.bstore  # a promotion reached two of the Zalo OA followers this morning
    earlier = await bstore.create(text="Ưu đãi", topics=["tuyen_sinh"], status="scheduled",
                                  send_at=bstore.clock.now(), promotion=True)
    await bstore.start_sending(earlier.id)
    claimed = [c for c in await bstore.claim("w", 10, lease=timedelta(minutes=1)) if c.channel == "zalo_oa"]
    await bstore.apply("w", [c.id for c in claimed],
                       [*(Outcome(c.id, "sent", at=bstore.clock.now(), attempts=1) for c in claimed[:2]),
                        Outcome(claimed[2].id, "blocked", error="unfollowed", attempts=1)],
                       lease=timedelta(minutes=1))
    await bstore.release("w")
    await bstore.update(earlier.id, status="done")
    await services.store.users.update(
        (await services.store.users.get(UserRef("zalo_oa", claimed[2].platform_id))).id, active=True
    )  # followed again

    await say(services, STAFF, "/guitin")
    await say(services, STAFF, "Học bổng mới")
    await say(services, STAFF, payload="gt:t:tuyen_sinh")
    await say(services, STAFF, payload="gt:next")
    replies = await say(services, STAFF, payload="gt:now")
    assert "Gửi tới: 5 người (Telegram 2, Zalo OA 3)" in replies[0].text
    assert "tin thông báo, không phải quảng bá" in replies[0].text and "gt:promo" in payloads(replies)
    replies = await say(services, STAFF, payload="gt:promo")
    text = replies[0].text
    assert "Gửi tới: 3/5 người (Telegram 2, Zalo OA 1/3)" in text, text
    assert "vượt giới hạn của Zalo OA (1 tin/ngày, 4 tin/tháng" in text and ": 2 người trên Zalo OA" in text
    assert any(b.label == "Bỏ đánh dấu tin quảng bá" for b in replies[1].flat_buttons)
    await say(services, STAFF, payload="gt:ok")
    rows = [r for r in await broadcasts.upcoming() if r.id != earlier.id]
    assert len(rows) == 1 and rows[0].promotion is True


async def test_a_stranger_pressing_a_wizard_button_is_refused(services, store, broadcasts):
    replies = await say(services, UserRef("telegram", "7"), payload="gt:ok")
    assert "chỉ dành cho cán bộ" in replies[0].text
    assert await broadcasts.upcoming() == []
