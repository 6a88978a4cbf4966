"""End to end in polling mode: the real python-telegram-bot client talks to the fake Bot API server over
loopback; whole conversations, duplicates, 403, 429, network errors, per-chat order, shutdown."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.config import Settings
from bot.outbound import NullLimiter
from bot.storage.models import QuestionLog, StaffAudit, Subscription, User
from bot.types import UserRef
from tests.fakes import FIXTURE_CONTENT, eventually, running_app
from tests.fakes.telegram_api import FakeTelegram, Sent

# python-telegram-bot warns, on every RetryAfter it builds, that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

USER = 1001
STAFF = 42
STAFF_CHAT = -100500


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


def make_settings(db_url: str, fake: FakeTelegram, **extra) -> Settings:
    values = {"database_url": db_url, "content_dir": FIXTURE_CONTENT, "http_port": 0,
              "telegram_token": "123:ABC", "telegram_api_url": fake.base_url,
              "staff_chat_id": str(STAFF_CHAT), "staff_telegram_ids": str(STAFF), **extra}
    return Settings.load(_env_file=None, **values)


@pytest.fixture
async def app(db_url, fake):
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as running:
        yield running


class TgUser:
    """A person in a private chat with the bot (or in `chat`), driving the fake server."""

    def __init__(self, fake: FakeTelegram, user_id: int, name: str = "An", chat: int | None = None):
        self.fake, self.id, self.name = fake, user_id, name
        self.chat = user_id if chat is None else chat

    @property
    def inbox(self) -> list[Sent]:
        return self.fake.messages_to(self.chat)

    async def say(self, text: str | None, expect: int = 1, **kw) -> list[Sent]:
        before = len(self.inbox)
        self.fake.push_message(self.id, text, chat_id=self.chat, first_name=self.name, **kw)
        return await self.fake.wait_messages(self.chat, expect, after=before)

    async def tap(self, label: str, expect: int = 1) -> list[Sent]:
        """Press the button labelled `label` (a part of it) on the newest message that has it."""
        for message in reversed(self.inbox):
            try:
                data = message.payload_of(label)
            except KeyError:
                continue
            before = len(self.inbox)
            self.fake.push_callback(self.id, data, message_id=message.message_id, chat_id=self.chat,
                                    first_name=self.name)
            return await self.fake.wait_messages(self.chat, expect, after=before)
        raise AssertionError(f"no button {label!r} in this chat")


async def test_onboarding_question_feedback(app, fake):
    an = TgUser(fake, USER)
    welcome, who = await an.say("/start", expect=2)
    assert "Thực học - Thực hành - Vững khởi nghiệp, sáng tương lai" in welcome.text
    assert "/xoadulieu" in welcome.text  # the one-line storage notice
    assert who.text == "Bạn là ai?"
    labels = [b["text"] for b in who.buttons]
    assert labels == ["Học sinh THCS", "Học sinh THPT", "Phụ huynh", "Người lao động",
                      "Bộ đội xuất ngũ / hoàn thành nghĩa vụ", "Doanh nghiệp"]
    assert all(len(p.encode()) <= 64 for m in fake.sent for p in m.payloads)

    (age,) = await an.tap("THPT")
    assert "Bạn bao nhiêu tuổi?" in age.text
    await eventually(lambda: len(fake.callback_answers) == 1, what="answerCallbackQuery")
    (menu,) = await an.tap("Từ 16")
    assert [b["text"] for b in menu.buttons] == ["❓ Hỏi đáp", "🛠️ Tìm nghề", "🏫 Tìm trường", "🔔 Nhận tin",
                                                 "🧭 Trắc nghiệm chọn nghề", "🧑‍🏫 Gặp tư vấn viên"]

    (answer,) = await an.say("học phí học nghề bao nhiêu")
    assert "học phí học nghề" in answer.text
    (thanks,) = await an.tap("Hữu ích")
    assert "Cảm ơn" in thanks.text

    (unknown,) = await an.say("máy bay trực thăng giá bao nhiêu")
    assert "chưa có câu trả lời chắc chắn" in unknown.text
    assert any("tư vấn viên" in b["text"] for b in unknown.buttons)

    await app.store.flush()
    async with app.store.session() as s:
        user = (await s.execute(sa.select(User).where(User.platform_id == str(USER)))).scalar_one()
        questions = (await s.execute(sa.select(QuestionLog).order_by(QuestionLog.id))).scalars().all()
    assert (user.role, user.under_16, user.display_name) == ("hs_thpt", False, "An")
    assert [(q.answered, q.feedback) for q in questions] == [(True, 1), (False, None)]


async def test_subscribe_list_unsubscribe(app, fake):
    an = TgUser(fake, USER)
    (done,) = await an.say("/dangky tuyen_sinh")
    assert "Đã đăng ký nhận «Tin tuyển sinh»" in done.text
    (done,) = await an.say("/dangky Sự kiện")
    assert "Sự kiện, ngày hội" in done.text
    (listing,) = await an.say("/chude")
    assert "Tin tuyển sinh" in listing.text and "Sự kiện, ngày hội" in listing.text
    (choose,) = await an.say("/dangky")
    assert "✅ Tin tuyển sinh" in [b["text"] for b in choose.buttons]
    (picked,) = await an.tap("Việc làm")
    assert "Việc làm" in picked.text
    (gone,) = await an.say("/huy tatca")
    assert "Đã hủy nhận tất cả" in gone.text
    (none,) = await an.say("/chude")
    assert "chưa đăng ký" in none.text
    async with app.store.session() as s:
        active = (await s.execute(sa.select(sa.func.count()).select_from(Subscription)
                                  .where(Subscription.active.is_(True)))).scalar_one()
    assert active == 0


async def test_handoff_round_trip(app, fake):
    an = TgUser(fake, USER, "An")
    lan = TgUser(fake, STAFF, "Lan", chat=STAFF_CHAT)
    await an.say("học phí học nghề bao nhiêu")
    (told,) = await an.say("/tuvan Em muốn học nghề hàn thì học ở đâu ạ?")
    assert "đã được chuyển tới tư vấn viên" in told.text
    (card,) = await fake.wait_messages(STAFF_CHAT, 1)
    assert "Em muốn học nghề hàn" in card.text and "An" in card.text and "học phí học nghề" in card.text

    # While the case is open, the bot does not answer over the staff: messages are forwarded.
    (fwd,) = await an.say("học phí học nghề bao nhiêu")
    assert "chuyển thêm" in fwd.text
    followup = (await fake.wait_messages(STAFF_CHAT, 1, after=1))[0]
    assert "học phí học nghề bao nhiêu" in followup.text

    # A staff reply (a Telegram reply to the follow-up) reaches the person.
    before = len(an.inbox)
    (ack,) = await lan.say("Chào em, em tham khảo Trường A nhé.", reply_to=followup.message_id)
    assert "Đã chuyển câu trả lời" in ack.text
    (relayed,) = await fake.wait_messages(USER, 1, after=before)
    assert relayed.text.startswith("💬 Tư vấn viên trả lời:") and "Trường A" in relayed.text

    # Chatter among staff (a reply to a human's message) is not the bot's business.
    fake.push_message(STAFF, "ok", chat_id=STAFF_CHAT, reply_to=ack.message_id + 100)

    before = len(an.inbox)
    (closed,) = await lan.say("/dong", reply_to=card.message_id)
    assert "Đã đóng yêu cầu #1" in closed.text
    (told,) = await fake.wait_messages(USER, 1, after=before)
    assert "kết thúc" in told.text
    (answer,) = await an.say("học phí học nghề bao nhiêu")  # the bot answers again
    assert "học phí học nghề" in answer.text and "chuyển" not in answer.text
    assert len(fake.messages_to(STAFF_CHAT)) == 4  # card, follow-up, ack, closed


async def test_data_deletion_and_staff_refusal(app, fake):
    an = TgUser(fake, USER)
    await an.say("/start", expect=2)
    await an.say("/dangky viec_lam")
    (refused,) = await an.say("/thongke")
    assert "chỉ dành cho cán bộ" in refused.text
    (shown,) = await an.say("/xoadulieu")
    assert "Việc làm" in shown.text and "Xóa hết" in shown.buttons[0]["text"]
    (deleted,) = await an.tap("Xóa hết")
    assert "Đã xóa toàn bộ dữ liệu" in deleted.text
    async with app.store.session() as s:
        users = (await s.execute(sa.select(User.platform_id))).scalars().all()
        audit = (await s.execute(sa.select(StaffAudit.platform_id, StaffAudit.command, StaffAudit.allowed)))
        audit = audit.all()
    assert str(USER) not in users
    assert audit == [("deleted", "/thongke", False)]  # the action is kept, not the person
    # A button of the deleted conversation pressed later: a polite note, no crash.
    (stale,) = await an.tap("Xóa hết")
    assert "hết hạn" in stale.text

    staff = TgUser(fake, STAFF, "Lan")
    (stats,) = await staff.say("/thongke")
    assert "Thống kê" in stats.text and "Câu hỏi hôm nay" in stats.text


async def test_repeated_update_is_processed_once(db_url, fake):
    settings = make_settings(db_url, fake)
    update = {"update_id": 5001, "message": {
        "message_id": 1, "date": 1, "chat": {"id": USER, "type": "private"},
        "from": {"id": USER, "is_bot": False, "first_name": "An"}, "text": "/chude"}}
    async with running_app(settings, limiter=NullLimiter()):
        fake.push_update(dict(update))
        await fake.wait_messages(USER, 1)
    # Telegram hands the same update out again (a crash before the offset was confirmed).
    async with running_app(settings, limiter=NullLimiter()):
        fake.push_update(dict(update))
        fake.push_message(USER, "/trogiup")
        await fake.wait_messages(USER, 1, after=1)
        assert len(fake.messages_to(USER)) == 2
        assert "Mình có thể" in fake.messages_to(USER)[1].text


async def test_blocked_user_is_marked_inactive(app, fake):
    fake.blocked.add(USER)
    fake.push_message(USER, "/start")
    user = await eventually(lambda: app.store.users.get(UserRef("telegram", str(USER))))

    async def inactive():
        found = await app.store.users.get(UserRef("telegram", str(USER)))
        return found is not None and not found.active and "blocked" in (found.inactive_reason or "")

    await eventually(inactive, what="user marked inactive")
    assert user.id
    assert fake.stats()["status_counts"][403] >= 1

    # Blocking reported by Telegram itself (my_chat_member "kicked") also marks inactive.
    other = 2002
    fake.push_message(other, "/chude")
    await fake.wait_messages(other, 1)
    fake.push_update({"my_chat_member": {
        "chat": {"id": other, "type": "private", "first_name": "B"},
        "from": {"id": other, "is_bot": False, "first_name": "B"}, "date": 1,
        "old_chat_member": {"status": "member", "user": {"id": 123, "is_bot": True, "first_name": "bot"}},
        "new_chat_member": {"status": "kicked", "until_date": 0,
                            "user": {"id": 123, "is_bot": True, "first_name": "bot"}}}})

    async def other_inactive():
        found = await app.store.users.get(UserRef("telegram", str(other)))
        return found is not None and not found.active

    await eventually(other_inactive, what="my_chat_member kicked")


async def test_429_retry_after_is_respected(app, fake):
    fake.fail_next(429)  # retry_after = 1 s
    loop = asyncio.get_running_loop()
    started = loop.time()
    fake.push_message(USER, "/chude")
    (reply,) = await fake.wait_messages(USER, 1, within=5)
    assert loop.time() - started >= 0.9
    assert "chủ đề" in reply.text
    assert fake.status_counts[429] == 1


async def test_network_errors_are_retried(app, fake):
    fake.fail_next(502)  # the reply's first attempt
    fake.fail_next(502, method="getUpdates")  # and one poll
    fake.push_message(USER, "/chude")
    (reply,) = await fake.wait_messages(USER, 1, within=8)
    assert "chủ đề" in reply.text
    assert fake.status_counts[502] >= 1


async def test_one_chat_in_order_chats_concurrently(app, fake):
    release = asyncio.Event()
    handle = app.conversation._handle
    order: list[str] = []

    async def slow(incoming):
        order.append(incoming.text)
        if incoming.text == "/chude" and incoming.user.user_id == str(USER):
            await release.wait()  # the first update of USER's chat is slow
        return await handle(incoming)

    app.conversation._handle = slow
    fake.push_message(USER, "/chude")
    fake.push_message(USER, "/trogiup")
    fake.push_message(2002, "/trogiup")
    # Another chat is answered while USER's first update is still running...
    await fake.wait_messages(2002, 1)
    assert fake.messages_to(USER) == [] and order.count("/trogiup") == 1
    release.set()
    first, second = await fake.wait_messages(USER, 2)
    # ...and USER's updates stay in order.
    assert "chủ đề" in first.text and "Mình có thể" in second.text


async def test_stop_lets_in_flight_updates_finish(db_url, fake, monkeypatch):
    import bot.app as appmod
    from tests.fakes import FakeHolder

    monkeypatch.setattr(appmod, "ContentHolder", FakeHolder)
    app = await appmod.build_app(make_settings(db_url, fake))
    app.outbound.limiter = NullLimiter()
    await appmod.start(app)
    release, entered = asyncio.Event(), asyncio.Event()
    handle = app.conversation._handle

    async def slow(incoming):
        entered.set()
        await release.wait()
        return await handle(incoming)

    app.conversation._handle = slow
    fake.push_message(USER, "/chude")
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(appmod.stop(app))  # SIGTERM arrives while the update runs
    await fake.wait_for(lambda: not app.channels["telegram"]._accepting, what="receiving stopped")
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert len(fake.messages_to(USER)) == 1  # answered before the process let go


async def _app_with_slow_dedup(db_url, fake, monkeypatch):
    """The app started on the fake, its dedup query (Store.first_times) held until `gate` is set; returns
    (app, gate, entered)."""
    import bot.app as appmod
    from tests.fakes import FakeHolder

    monkeypatch.setattr(appmod, "ContentHolder", FakeHolder)
    app = await appmod.build_app(make_settings(db_url, fake))
    app.outbound.limiter = NullLimiter()
    await appmod.start(app)
    gate, entered = asyncio.Event(), asyncio.Event()
    real = app.store.dedup.first_times

    async def slow_first_times(source, keys):
        entered.set()
        await gate.wait()  # the database is slow right when SIGTERM arrives
        return await real(source, keys)

    app.store.dedup.first_times = slow_first_times
    return app, gate, entered


async def test_stop_during_the_dedup_query_hands_the_batch_over_before_confirming(db_url, fake, monkeypatch):
    """SIGTERM while a polled batch is being deduplicated: the batch still reaches the conversation and is
    answered, and only then is its offset confirmed to Telegram. Nothing is lost."""
    import bot.app as appmod

    app, gate, entered = await _app_with_slow_dedup(db_url, fake, monkeypatch)
    for user in (USER, 2002, 2003):
        fake.push_message(user, "/chude")
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(appmod.stop(app))
    await fake.wait_for(lambda: not app.channels["telegram"]._accepting, what="receiving stopped")
    await asyncio.sleep(0.1)  # stop() is under way; it must wait for the batch
    assert not stopping.done()
    gate.set()
    await asyncio.wait_for(stopping, 10)
    for user in (USER, 2002, 2003):
        assert len(fake.messages_to(user)) == 1, user  # handed over and answered before the process let go
    assert not fake.updates  # and confirmed: Telegram will not hand them out again


async def test_stop_when_the_dedup_query_hangs_leaves_the_batch_to_telegram(db_url, fake, monkeypatch):
    """If the batch cannot be handed over within the grace, its offset is not confirmed: Telegram hands the
    updates out again at the next start, where they are answered."""
    import bot.app as appmod
    from bot.channels import telegram

    monkeypatch.setattr(telegram, "STOP_GRACE", 0.2)
    app, _gate, entered = await _app_with_slow_dedup(db_url, fake, monkeypatch)
    update_id = fake.push_message(USER, "/chude")
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(appmod.stop(app), 10)  # the gate never opens
    assert fake.messages_to(USER) == []
    assert [u["update_id"] for u in fake.updates] == [update_id]  # not confirmed
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()):
        (reply,) = await fake.wait_messages(USER, 1)
    assert "chủ đề" in reply.text


async def test_no_token_channel_is_off(db_url, fake):
    settings = Settings.load(_env_file=None, database_url=db_url, content_dir=FIXTURE_CONTENT, http_port=0)
    async with running_app(settings) as app:
        assert app.channel_status["telegram"].startswith("off: CHONNGHE_TELEGRAM_TOKEN")
        assert "telegram" not in app.channels


async def test_rejected_token_is_an_alert_for_staff_not_a_crash(db_url, fake):
    settings = make_settings(db_url, fake, telegram_token="999:WRONG")
    async with running_app(settings, limiter=NullLimiter()) as app:
        alerts = await eventually(app.services.alerts, what="an alert")
        assert alerts == ["Telegram: token bị từ chối, kiểm tra CHONNGHE_TELEGRAM_TOKEN (từ 0 phút trước)"]
        assert app.channel_status["telegram"] == "on"  # the service keeps running
