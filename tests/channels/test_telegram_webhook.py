"""End to end in webhook mode: the fake Bot API server POSTs updates to /telegram/webhook on the app's
own HTTP server with the secret header, as Telegram does; forged and malformed requests change nothing."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from bot.channels.telegram import SECRET_KEY
from bot.outbound import NullLimiter
from bot.storage.models import ProcessedUpdate, User
from tests.channels.test_telegram_polling import STAFF, STAFF_CHAT, USER, TgUser, make_settings
from tests.fakes import running_app
from tests.fakes.telegram_api import FakeTelegram

# python-telegram-bot warns, on every RetryAfter it builds, that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


def webhook_settings(db_url, fake, port, **extra):
    return make_settings(db_url, fake, telegram_mode="webhook", http_port=port,
                         public_url=f"http://127.0.0.1:{port}", **extra)


@pytest.fixture
async def app(db_url, fake):
    port = free_port()
    async with running_app(webhook_settings(db_url, fake, port, telegram_webhook_secret="s3cret-Token_1"),
                           limiter=NullLimiter()) as running:
        await fake.wait_for(lambda: fake.webhook, what="setWebhook")
        yield running


async def test_webhook_registered_with_secret(app, fake):
    assert fake.webhook["url"] == f"http://127.0.0.1:{app.port}/telegram/webhook"
    assert fake.webhook["secret_token"] == "s3cret-Token_1"


async def test_whole_conversation_over_webhook(app, fake):
    an = TgUser(fake, USER, "An")
    welcome, who = await an.say("/start", expect=2)
    assert "Thực học - Thực hành" in welcome.text and who.text == "Bạn là ai?"
    (age,) = await an.tap("THCS")
    assert "tuổi" in age.text
    (menu,) = await an.tap("Dưới 16")
    assert "cha mẹ" in menu.text
    (answer,) = await an.say("khi nào tuyển sinh trường nghề")
    assert "tuyển sinh" in answer.text
    (ask,) = await an.say("/dangky tuyen_sinh")
    assert "cha mẹ" in ask.text  # under 16: a parent's agreement first
    (done,) = await an.tap("Cha mẹ đã đồng ý")
    assert "Đã đăng ký nhận «Tin tuyển sinh»" in done.text
    (listing,) = await an.say("/chude")
    assert "Tin tuyển sinh" in listing.text
    (gone,) = await an.say("/huy tuyen_sinh")
    assert "Đã hủy nhận «Tin tuyển sinh»" in gone.text

    lan = TgUser(fake, STAFF, "Lan", chat=STAFF_CHAT)
    (asked,) = await an.say("/tuvan")
    assert "gõ câu hỏi" in asked.text
    (told,) = await an.say("Nghề hàn học mấy năm ạ?")
    assert "tư vấn viên" in told.text
    (card,) = await fake.wait_messages(STAFF_CHAT, 1)
    before = len(an.inbox)
    await lan.say("Khoảng 2 năm em nhé.", reply_to=card.message_id)
    (relayed,) = await fake.wait_messages(USER, 1, after=before)
    assert "Khoảng 2 năm" in relayed.text
    (closed,) = await an.tap("Đã xong")
    assert "Đã kết thúc trao đổi" in closed.text
    (note,) = await fake.wait_messages(STAFF_CHAT, 1, after=2)
    assert "Người hỏi đã kết thúc yêu cầu #1" in note.text

    (refused,) = await an.say("/guitin")
    assert "chỉ dành cho cán bộ" in refused.text
    await an.say("/xoadulieu")
    (deleted,) = await an.tap("Xóa hết")
    assert "Đã xóa" in deleted.text
    assert await app.store.users.by_id(1) is None


async def test_forged_or_missing_secret_gets_401_and_nothing_happens(app, fake):
    update = {"update_id": 777, "message": {
        "message_id": 1, "date": 1, "chat": {"id": USER, "type": "private"},
        "from": {"id": USER, "is_bot": False, "first_name": "Mallory"}, "text": "/start"}}
    assert (await fake.post_webhook(update, secret="wrong"))[0] == 401
    assert (await fake.post_webhook(update, secret=None))[0] == 401
    assert (await fake.post_webhook(update, secret="s3cret-Token_"))[0] == 401
    assert (await fake.post_webhook(b"{not json", secret="s3cret-Token_1"))[0] == 400
    assert (await fake.post_webhook(b"[1, 2]", secret="s3cret-Token_1"))[0] == 400
    # Nothing was sent, stored or marked as processed.
    await fake.wait_for(lambda: app.conversation.in_flight == 0)
    assert fake.messages_to(USER) == []
    async with app.store.session() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar_one() == 0
        assert (await s.execute(sa.select(sa.func.count()).select_from(ProcessedUpdate))).scalar_one() == 0
    # The same update with the right secret is handled.
    assert (await fake.post_webhook(update, secret="s3cret-Token_1"))[0] == 200
    await fake.wait_messages(USER, 2)


async def test_redelivered_update_is_processed_once(app, fake):
    update = {"update_id": 9001, "message": {
        "message_id": 5, "date": 1, "chat": {"id": USER, "type": "private"},
        "from": {"id": USER, "is_bot": False, "first_name": "An"}, "text": "/chude"}}
    for _ in range(3):
        status, _ = await fake.post_webhook(update, secret="s3cret-Token_1")
        assert status == 200
    fake.push_message(USER, "/trogiup")
    replies = await fake.wait_messages(USER, 2)
    assert "chủ đề" in replies[0].text and "Mình có thể" in replies[1].text
    await fake.wait_for(lambda: app.conversation.in_flight == 0)
    assert len(fake.messages_to(USER)) == 2


async def test_generated_secret_is_kept_across_restarts(db_url, fake):
    port = free_port()
    settings = webhook_settings(db_url, fake, port)
    async with running_app(settings, limiter=NullLimiter()) as app:
        hook = await fake.wait_for(lambda: fake.webhook, what="setWebhook")
        first = hook["secret_token"]
        assert first and first == await app.store.kv.get(SECRET_KEY)
        assert len(first) >= 32
    fake.webhook = None
    async with running_app(settings, limiter=NullLimiter()):
        hook = await fake.wait_for(lambda: fake.webhook, what="setWebhook again")
        assert hook["secret_token"] == first
        fake.push_message(USER, "/chude")
        await fake.wait_messages(USER, 1)


async def test_webhook_mode_without_public_url_is_off(db_url, fake):
    settings = make_settings(db_url, fake, telegram_mode="webhook")
    async with running_app(settings) as app:
        assert "CHONNGHE_PUBLIC_URL" in app.channel_status["telegram"]
