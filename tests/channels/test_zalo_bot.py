"""The Zalo Bot channel: numbered menus and their mapping back, splitting at 2,000 characters, update
parsing, error mapping, and the real adapter against the fake Zalo Bot API over loopback (polling with 408,
repeated message ids, errors, the webhook's secret), never logging the token."""

from __future__ import annotations

import asyncio
import logging
import re
import socket

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.channels import zalo_bot
from bot.channels.base import ChannelDeps, Off
from bot.channels.numbered import Menu, MenuMemory, menu_key, number_of, prompt, render
from bot.channels.zalo_bot import (
    MAX_TEXT,
    ZaloBotChannel,
    ZaloBotClient,
    map_error,
    parse_update,
    pieces_of,
    split_text,
    unwrap,
)
from bot.clock import SystemClock
from bot.config import Settings
from bot.outbound import NullLimiter
from bot.ports import Blocked, Permanent, RateLimited, Transient
from bot.storage.kv import dedup_digest
from bot.storage.models import ProcessedUpdate, User
from bot.types import Button, Incoming, Reply, UserRef
from tests.channels.faults import after_first_message
from tests.conftest import BACKENDS
from tests.fakes import FIXTURE_CONTENT, eventually, running_app
from tests.fakes.zalo_bot_api import DEFAULT_TOKEN, FakeZaloBot

USER = "7a1b2c3d4e5f6071"
SECRET = "zb-Webhook_s3cret"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    monkeypatch.setattr(zalo_bot, "FIRST_BACKOFF", 0.05)
    monkeypatch.setattr(zalo_bot, "TOKEN_RETRY", 0.1)


@pytest.fixture
async def fake():
    async with FakeZaloBot(max_poll=0.3) as server:
        yield server


def make_settings(db_url: str, fake: FakeZaloBot, **extra) -> Settings:
    values = {"database_url": db_url, "content_dir": FIXTURE_CONTENT, "http_port": 0,
              "zalo_bot_token": DEFAULT_TOKEN, "zalo_bot_api_url": fake.url, **extra}
    return Settings.load(_env_file=None, **values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def settled(app) -> None:
    """Every update taken in has gone through the conversation (intake queue and handlers both empty)."""
    channel = app.channels["zalo_bot"]
    await eventually(lambda: not channel._side and app.conversation.in_flight == 0, what="settled")


class ZUser:
    """A person in a private chat with the bot on the fake server."""

    def __init__(self, fake: FakeZaloBot, user_id: str = USER, name: str = "An"):
        self.fake, self.id, self.name = fake, user_id, name

    @property
    def inbox(self):
        return self.fake.messages_to(self.id)

    async def say(self, text: str, expect: int = 1, **kw):
        before = len(self.inbox)
        self.fake.push_text(self.id, text, name=self.name, **kw)
        return await self.fake.wait_messages(self.id, expect, after=before)


ROLE_MENU = Reply("Bạn là ai?", (
    (Button("Học sinh THCS", "role:hs_thcs"), Button("Phụ huynh", "role:phu_huynh")),
    (Button("Trang tuyển sinh", url="https://example.edu.vn/tuyen-sinh"),),
    (Button("Doanh nghiệp", "role:doanh_nghiep"),),
))


# --- numbered menus ------------------------------------------------------------------------------


def test_buttons_render_as_a_numbered_list_with_links_and_a_prompt():
    rendered = render(ROLE_MENU)
    assert rendered.text == (
        "Bạn là ai?\n\n"
        "1. Học sinh THCS\n2. Phụ huynh\n3. Doanh nghiệp\n"
        "• Trang tuyển sinh: https://example.edu.vn/tuyen-sinh\n"
        "Bạn trả lời 1, 2 hoặc 3 để chọn.")
    assert rendered.menu == Menu(("role:hs_thcs", "role:phu_huynh", "role:doanh_nghiep"))
    assert rendered.menu.pick(2) == "role:phu_huynh" and rendered.menu.pick(4) is None
    assert render(Reply("Chỉ chữ")).text == "Chỉ chữ" and not render(Reply("Chỉ chữ")).menu
    links_only = render(Reply("Xem", ((Button("Trang", url="https://a.vn"),),)))
    assert links_only.text == "Xem\n\n• Trang: https://a.vn" and not links_only.menu


def test_prompts_read_naturally():
    assert prompt(1) == "Bạn trả lời 1 để chọn."
    assert prompt(2) == "Bạn trả lời 1 hoặc 2 để chọn."
    assert prompt(3) == "Bạn trả lời 1, 2 hoặc 3 để chọn."
    assert prompt(6) == "Bạn trả lời một số từ 1 đến 6 để chọn."


def test_bare_numbers_are_recognised():
    for text, number in [("2", 2), (" 2 ", 2), ("2.", 2), ("2)", 2), ("số 3", 3), ("\t10\n", 10)]:
        assert number_of(text) == number, text
    for text in ["", "2a", "2 năm", "1, 2", "hai", "-1", "/2"]:
        assert number_of(text) is None, text


def test_long_chat_ids_fit_the_kv_key():
    assert menu_key("zalo_bot", "abc") == "chat:zalo_bot:abc:menu"  # per-chat state: deleted with the data
    long = menu_key("zalo_bot", "x" * 200)
    assert len(long) <= 64 and long != menu_key("zalo_bot", "y" * 200)


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_menu_memory_maps_a_number_to_the_payload_and_survives_a_restart(store, clock):
    chat = "c1"
    text = Incoming(UserRef("zalo_bot", chat), text=" 2 ", chat_id=chat, message_id="m1")
    assert await MenuMemory(store, "zalo_bot").resolve(text) == text  # no menu yet: plain text
    await MenuMemory(store, "zalo_bot").remember(chat, render(ROLE_MENU).menu)
    fresh = MenuMemory(store, "zalo_bot")  # a new process: only the database remembers
    pressed = await fresh.resolve(text)
    assert pressed.payload == "role:phu_huynh" and pressed.text == "" and pressed.message_id == "m1"
    for outside in ("4", "0", "12"):
        assert (
            await fresh.resolve(Incoming(UserRef("zalo_bot", chat), text=outside, chat_id=chat))
        ).payload is None
    # Another channel, another chat: their own menus.
    assert (await MenuMemory(store, "zalo_oa").resolve(text)).payload is None
    other = Incoming(UserRef("zalo_bot", "c2"), text="1", chat_id="c2")
    assert (await fresh.resolve(other)).payload is None
    # A message without options clears the menu...
    await fresh.remember(chat, Menu())
    assert (await MenuMemory(store, "zalo_bot").resolve(text)).payload is None
    # ...and an old menu expires.
    await fresh.remember(chat, Menu(("a", "b")))
    assert (await MenuMemory(store, "zalo_bot").resolve(text)).payload == "b"
    clock.advance(days=4)
    assert (await MenuMemory(store, "zalo_bot").resolve(text)).payload is None


# --- splitting -----------------------------------------------------------------------------------


def test_long_text_is_split_at_sentence_ends_within_2000_characters():
    sentence = "Trường Cao đẳng nghề tuyển sinh nhiều ngành kỹ thuật cho học sinh tốt nghiệp THCS. "
    text = (sentence * 70).strip()
    pieces = split_text(text)
    assert len(pieces) >= 3
    assert all(len(p) <= MAX_TEXT for p in pieces)
    assert all(p.endswith(".") for p in pieces)  # cut after a sentence, never inside one
    assert " ".join(pieces) == text
    assert split_text("ngắn") == ["ngắn"]
    # No separator at all: a hard cut, still within the limit.
    assert [len(p) for p in split_text("x" * 4500)] == [2000, 2000, 500]


def test_numbered_list_stays_whole_in_the_last_part():
    sentence = "Học nghề được miễn, giảm học phí theo quy định hiện hành. "
    reply = Reply((sentence * 60).strip(), ROLE_MENU.buttons)
    pieces = pieces_of(render(reply))
    assert len(pieces) >= 2 and all(len(p) <= MAX_TEXT for p in pieces)
    block = render(reply).block
    assert pieces[-1].endswith(block)
    assert all("1. Học sinh THCS" not in p for p in pieces[:-1])
    assert pieces_of(render(Reply(""))) == ["…"]


# --- parsing -------------------------------------------------------------------------------------


def test_wrapped_and_bare_updates_are_both_accepted():
    update = FakeZaloBot.message_update(FakeZaloBot(), USER, "Xin chào", name="Lan", message_id="abc")
    assert unwrap(update) == [update]
    assert unwrap({"ok": True, "result": update}) == [update]
    assert unwrap({"ok": True, "result": [update, update]}) == [update, update]
    assert unwrap({"ok": False, "error_code": 408}) == []
    assert unwrap([update]) == [] and unwrap({"hello": 1}) == []
    incoming = parse_update(update)
    assert incoming == Incoming(UserRef("zalo_bot", USER), text="Xin chào", chat_id=USER, message_id="abc",
                                display_name="Lan")


def test_parsing_other_events_groups_and_junk():
    fake = FakeZaloBot()
    image = parse_update(fake.message_update(USER, None, event="message.image.received"))
    assert image is not None and image.text == "" and image.media
    sticker = parse_update(fake.message_update(USER, None, event="message.sticker.received"))
    assert sticker is not None and sticker.media
    start = parse_update(fake.message_update(USER, "  Bắt đầu "))
    assert (
        start is not None and start.text == "  Bắt đầu "
    )  # passed on as typed: the handlers read it as /start
    group = parse_update(fake.message_update("u9", "/dangky", chat_id="g1", chat_type="GROUP"))
    assert group is not None and group.user.user_id == "u9" and group.chat_id == "g1"
    assert parse_update({"event_name": "message.text.received"}) is None
    assert parse_update({"event_name": "message.text.received", "message": {"text": "x"}}) is None
    assert parse_update({"event_name": "bot.added", "message": {"chat": {"id": "1"}}}) is None
    bot_sender = fake.message_update(USER, "x")
    bot_sender["message"]["from"]["is_bot"] = True
    assert parse_update(bot_sender) is None
    # The older field name for the sender's name is read too.
    named = fake.message_update(USER, "hi")
    named["message"]["from"] = {"id": USER, "name": "Bình"}
    assert parse_update(named).display_name == "Bình"


# --- errors --------------------------------------------------------------------------------------


def test_errors_map_to_send_errors():
    limited = map_error(
        "sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": 7},
        },
    )
    assert isinstance(limited, RateLimited) and limited.retry_after == 7
    assert map_error("sendMessage", 429, None, "3").retry_after == 3
    assert isinstance(map_error("sendMessage", 502, None), Transient)
    assert isinstance(
        map_error("sendMessage", 200, {"ok": False, "error_code": 500, "description": "x"}), Transient
    )
    assert isinstance(map_error("sendMessage", 403, {"ok": False, "error_code": 403}), Blocked)
    assert isinstance(map_error("sendMessage", 400, {"ok": False, "error_code": 400,
                                                     "description": "User not found"}), Blocked)
    assert isinstance(map_error("sendMessage", 400, {"ok": False, "error_code": 400,
                                                     "description": "text is required"}), Permanent)
    assert isinstance(map_error("sendMessage", 401, {"ok": False, "error_code": 401}), Permanent)
    assert isinstance(map_error("sendMessage", 200, {"ok": False}), Permanent)  # ok false, HTTP 200


def test_a_bare_404_is_not_a_blocked_user():
    """Blocked (the user is marked inactive) only when the platform says the recipient is gone; a 404 for
    the URL or the method (a typo in CHONNGHE_ZALO_BOT_API_URL, a proxy) would otherwise deactivate
    everyone."""
    for status, body in [
        (404, None),
        (404, {"ok": False, "error_code": 404, "description": "Not Found"}),
        (200, {"ok": False, "error_code": 404, "description": "Not Found"}),
        (404, {"ok": False, "error_code": 404, "description": "Not Found: method sendChatAction"}),
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is required"}),
        (403, None),
    ]:  # an HTML 403 from a proxy or firewall: not the API's word
        error = map_error("sendMessage", status, body)
        assert isinstance(error, Permanent) and not isinstance(error, Blocked), (status, body)
    for status, body in [
        (403, {"ok": False, "error_code": 403, "description": "Forbidden"}),
        (404, {"ok": False, "error_code": 404, "description": "Not Found: chat not found"}),
        (400, {"ok": False, "error_code": 400, "description": "Bot was blocked by the user"}),
        (400, {"ok": False, "error_code": 400, "description": "Người dùng không tồn tại"}),
    ]:
        assert isinstance(map_error("sendMessage", status, body), Blocked), (status, body)


async def test_a_wrong_api_url_does_not_mark_subscribers_inactive(db_url, fake):
    """A typo in CHONNGHE_ZALO_BOT_API_URL (the fake answers 404 to any other path) plus one broadcast
    must not deactivate the Zalo Bot subscribers: the send fails as Permanent, the users stay active."""
    html404 = web.Application()
    html404.router.add_route("*", "/{tail:.*}", _html_not_found)
    runner = web.AppRunner(html404)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    proxy_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        for api_url in (fake.url + "/wrong-prefix", proxy_url):
            settings = make_settings(db_url, fake, zalo_bot_api_url=api_url)
            async with running_app(settings, limiter=NullLimiter()) as app:
                ref = UserRef("zalo_bot", USER)
                await app.store.users.enter(ref, "An")
                with pytest.raises(Permanent) as info:
                    await app.outbound.send_once(ref, Reply("Tin tuyển sinh"), bulk=True)
                assert not isinstance(info.value, Blocked)
                assert (
                    "CHONNGHE_ZALO_BOT_API_URL" in info.value.reason
                    and DEFAULT_TOKEN not in info.value.reason
                )
                user = await app.store.users.get(ref)
                assert user is not None and user.active, api_url
        # The real API saying the user blocked the bot still marks them inactive.
        async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as app:
            fake.blocked.add(USER)
            with pytest.raises(Blocked):
                await app.outbound.send_once(UserRef("zalo_bot", USER), Reply("Tin"), bulk=True)
            user = await app.store.users.get(UserRef("zalo_bot", USER))
            assert user is not None and not user.active
    finally:
        await runner.cleanup()


async def _html_not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="404 page not found")


async def test_client_checks_ok_in_the_body_and_maps_http_errors(fake):
    client = ZaloBotClient(fake.url, DEFAULT_TOKEN)
    try:
        assert (await client.call("getMe"))["account_name"] == "bot.chonnghe"
        cases = [(dict(code=429, retry_after=2), RateLimited), (dict(code=502), Transient),
                 (dict(code=403), Blocked), (dict(code=400), Permanent),
                 (dict(code=400, http_status=200), Permanent), (dict(code=503, http_status=200), Transient)]
        for kw, expected in cases:
            fake.fail_next(**kw)
            with pytest.raises(expected) as info:
                await client.call("sendMessage", {"chat_id": USER, "text": "x"})
            assert DEFAULT_TOKEN not in str(info.value) and "bot<token>" not in str(info.value)
        fake.fail_next(429, parameters={"retry_after": 5})
        with pytest.raises(RateLimited) as info:
            await client.call("sendMessage", {"chat_id": USER, "text": "x"})
        assert info.value.retry_after == 5
    finally:
        await client.close()
    # Nothing listening: a network error, and the URL (with the token) is not in its text or its cause.
    dead = ZaloBotClient(f"http://127.0.0.1:{free_port()}", DEFAULT_TOKEN)
    try:
        with pytest.raises(Transient) as info:
            await dead.call("getMe")
        assert DEFAULT_TOKEN not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__
    finally:
        await dead.close()


async def test_send_splits_maps_blocks_and_keeps_the_menu(db_url, fake):
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as app:
        channel: ZaloBotChannel = app.channels["zalo_bot"]
        sentence = "Bạn có thể học nghề hàn tại nhiều trường trên địa bàn thành phố. "
        message_id = await channel.send(USER, Reply((sentence * 50).strip(), ROLE_MENU.buttons))
        sent = fake.messages_to(USER)
        assert len(sent) >= 2 and message_id == sent[-1].message_id
        assert all(len(m.text) <= MAX_TEXT for m in sent)
        assert sent[-1].text.endswith("Bạn trả lời 1, 2 hoặc 3 để chọn.")
        assert await app.store.kv.get(menu_key("zalo_bot", USER))  # remembered for the answer "2"
        fake.blocked.add("gone")
        with pytest.raises(Blocked):
            await channel.send("gone", Reply("Xin chào"))
        fake.fail_next(429, retry_after=3)
        with pytest.raises(RateLimited):
            await channel.send(USER, Reply("Xin chào"))
        fake.fail_next(502)
        with pytest.raises(Transient):
            await channel.send(USER, Reply("Xin chào"))


async def test_a_502_on_the_second_piece_does_not_resend_the_first(db_url, fake, monkeypatch):
    """A broadcast split in two: the second piece's 502 is retried in the adapter; the dispatcher sees a
    delivered message, so nobody gets the first piece twice."""
    from bot.channels import base

    monkeypatch.setattr(base, "PIECE_BACKOFF", 0.01)
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as app:
        ref = UserRef("zalo_bot", USER)
        await app.store.users.enter(ref, "An")
        reply = Reply(("Thông báo tuyển sinh học nghề hàn năm nay. " * 90).strip())
        expected = pieces_of(render(reply))
        assert len(expected) == 2
        after_first_message(fake, lambda: fake.fail_next(502))
        message_id = await app.outbound.send_once(ref, reply, bulk=True)
        sent = fake.messages_to(USER)
        assert [m.text for m in sent] == expected  # each piece once, in order
        assert message_id == sent[-1].message_id
        assert [m for m, _ in fake.calls].count("sendMessage") == 3  # piece 1, piece 2 (502), piece 2 again


async def test_a_later_piece_that_keeps_failing_is_not_resent_and_is_logged(
    db_url, fake, monkeypatch, caplog
):
    from bot.channels import base

    monkeypatch.setattr(base, "PIECE_BACKOFF", 0.01)
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as app:
        channel: ZaloBotChannel = app.channels["zalo_bot"]
        reply = Reply(("Thông báo tuyển sinh học nghề hàn năm nay. " * 90).strip())
        after_first_message(fake, lambda: fake.fail_next(502, count=base.PIECE_ATTEMPTS))
        with caplog.at_level(logging.WARNING):
            message_id = await channel.send(USER, reply)  # no exception: the first piece is out
        (first,) = fake.messages_to(USER)
        assert message_id == first.message_id
        assert [m for m, _ in fake.calls].count("sendMessage") == 1 + base.PIECE_ATTEMPTS
        assert any("zalo_bot: reply to" in r.getMessage() and "piece 2 of 2" in r.getMessage()
                   for r in caplog.records)
        # A rate limit on the second piece is waited out there.
        fake.reset()
        after_first_message(fake, lambda: fake.fail_next(429, parameters={"retry_after": 0.3}))
        loop = asyncio.get_running_loop()
        began = loop.time()
        await channel.send(USER, reply)
        assert loop.time() - began >= 0.3
        assert [m.text for m in fake.messages_to(USER)] == pieces_of(render(reply))


# --- the adapter, polling ------------------------------------------------------------------------


@pytest.fixture
async def app(db_url, fake):
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as running:
        yield running


async def test_polling_conversation_with_numbered_answers(app, fake):
    an = ZUser(fake)
    welcome, who = await an.say("/start", expect=2)
    assert "Thực học - Thực hành" in welcome.text
    assert who.text.startswith("Bạn là ai?\n\n1. Học sinh THCS\n2. Học sinh THPT\n")
    assert who.text.endswith("Bạn trả lời một số từ 1 đến 6 để chọn.")
    (age,) = await an.say(" 2. ")
    assert "Học sinh THPT" in age.text and "tuổi" in age.text and "1. Dưới 16" in age.text
    (menu,) = await an.say("2")
    assert "1." in menu.text  # the main menu, numbered too
    user = await app.store.users.get(UserRef("zalo_bot", USER))
    assert user.role == "hs_thpt" and user.under_16 is False and user.display_name == "An"
    # A number outside the menu is ordinary text (a question for the answer engine).
    (answer,) = await an.say("97")
    assert "ghi nhận" not in answer.text
    assert (await app.store.users.get(UserRef("zalo_bot", USER))).role == "hs_thpt"


async def test_numbers_typed_quickly_answer_successive_menus(app, fake):
    an = ZUser(fake)
    await an.say("/start", expect=2)
    before = len(an.inbox)
    fake.push_text(USER, "1")  # Học sinh THCS, which asks the age...
    fake.push_text(USER, "2")  # ...answered before the question arrived: 16 or older
    await fake.wait_messages(USER, 2, after=before)
    await settled(app)
    user = await app.store.users.get(UserRef("zalo_bot", USER))
    assert user.role == "hs_thcs" and user.under_16 is False


async def test_idle_polls_get_408_and_the_loop_keeps_polling(app, fake):
    await fake.wait_for(lambda: fake.idle_answers >= 3, within=5, what="three idle polls")
    (reply,) = await ZUser(fake).say("/chude")
    assert "chủ đề" in reply.text
    assert app.channels["zalo_bot"]._runner is not None and not app.channels["zalo_bot"]._runner.done()


async def test_bare_updates_are_handled_too(app, fake):
    fake.wrap = False
    (reply,) = await ZUser(fake).say("/chude")
    assert "chủ đề" in reply.text


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_a_repeated_message_id_is_processed_once_even_after_a_restart(db_url, fake):
    settings = make_settings(db_url, fake)
    async with running_app(settings, limiter=NullLimiter()) as app:
        for _ in range(3):
            fake.push_text(USER, "/chude", message_id="dup-1")
        await fake.wait_messages(USER, 1)
        await fake.wait_for(lambda: not fake.updates, what="all handed out")
        await settled(app)
        assert len(fake.messages_to(USER)) == 1
    async with running_app(settings, limiter=NullLimiter()) as app:
        fake.push_text(USER, "/chude", message_id="dup-1")  # handed out again after the restart
        fake.push_text(USER, "/trogiup", message_id="new-2")
        (help_,) = await fake.wait_messages(USER, 1, after=1)
        assert "Mình có thể" in help_.text
        await settled(app)
        assert len(fake.messages_to(USER)) == 2
        async with app.store.session() as s:
            keys = await s.execute(sa.select(ProcessedUpdate.key).where(ProcessedUpdate.source == "zalo_bot"))
            # Digests of chat and message id: the table holds no one's chat id (/xoadulieu).
            assert sorted(keys.scalars()) == sorted(
                [dedup_digest(USER, "dup-1"), dedup_digest(USER, "new-2")]
            )


async def test_stop_hands_over_messages_taken_in(db_url, fake, monkeypatch):
    """SIGTERM while a message taken in is still on its way to the conversation (its number being read
    against the chat's menu, a slow database): stop() waits for it, and it is answered."""
    import bot.app as appmod
    from tests.fakes import FakeHolder

    monkeypatch.setattr(appmod, "ContentHolder", FakeHolder)
    app = await appmod.build_app(make_settings(db_url, fake))
    app.outbound.limiter = NullLimiter()
    await appmod.start(app)
    channel: ZaloBotChannel = app.channels["zalo_bot"]
    gate, entered = asyncio.Event(), asyncio.Event()
    real = channel.menus.resolve

    async def slow_resolve(incoming):
        entered.set()
        await gate.wait()
        return await real(incoming)

    channel.menus.resolve = slow_resolve
    fake.push_text(USER, "/chude")
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(appmod.stop(app))
    await fake.wait_for(lambda: not channel._accepting, what="receiving stopped")
    await asyncio.sleep(0.1)
    assert not stopping.done()
    gate.set()
    await asyncio.wait_for(stopping, 10)
    (reply,) = fake.messages_to(USER)
    assert "chủ đề" in reply.text


async def test_an_update_arriving_as_stop_cancels_the_poll_is_still_handled(db_url, fake):
    """No offset: an update whose getUpdates answer has arrived when stop() cancels the poll loop is not
    handed out again, so it must still be taken in and answered."""
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as app:
        channel: ZaloBotChannel = app.channels["zalo_bot"]
        await fake.wait_for(lambda: fake.idle_answers >= 1, what="polling")
        answer = asyncio.Event()
        waiting = asyncio.Event()

        async def get_updates():
            waiting.set()
            await answer.wait()
            return unwrap({"ok": True, "result": fake.message_update(USER, "/chude")})

        channel._get_updates = get_updates
        await asyncio.wait_for(waiting.wait(), 5)
        answer.set()  # the answer is in...
        await channel.stop()  # ...and the stop lands before the poll loop has looked at it
        (reply,) = await fake.wait_messages(USER, 1)
        assert "chủ đề" in reply.text


async def test_images_and_stickers_get_a_polite_text_only_reply(app, fake):
    fake.push_event(USER, "message.image.received")
    (reply,) = await fake.wait_messages(USER, 1)
    assert "chỉ đọc được tin nhắn dạng chữ" in reply.text
    fake.push_event(USER, "message.sticker.received")
    await fake.wait_messages(USER, 1, after=1)


async def test_polling_survives_errors_and_rate_limits(app, fake):
    fake.fail_next(502, 2, method="getUpdates")
    fake.fail_next(429, 1, method="getUpdates", parameters={"retry_after": 0})
    fake.fail_next(400, 1, method="getUpdates", http_status=200)
    await fake.wait_for(lambda: not fake.failures["getUpdates"], what="every failure served")
    (reply,) = await ZUser(fake).say("/chude")
    assert "chủ đề" in reply.text


async def test_the_token_is_never_logged(db_url, fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail_next(502, 2, method="getUpdates")
    fake.fail_next(400, 1, method="sendMessage")  # a live reply that fails permanently is logged
    async with running_app(make_settings(db_url, fake), limiter=NullLimiter()) as app:
        fake.push_text(USER, "/chude")
        await fake.wait_for(lambda: not fake.failures["sendMessage"], what="the failed send")
        (ok,) = await ZUser(fake).say("/chude")
        assert "chủ đề" in ok.text
        await settled(app)
    # A refused token and an unreachable server are logged too.
    async with running_app(make_settings(db_url, fake, zalo_bot_token="999:wrongTokenValue123"),
                           limiter=NullLimiter()) as app:
        await eventually(lambda: app.channels["zalo_bot"].alerts(), what="token alert")
        assert "token" in app.channels["zalo_bot"].alerts()[0]
    async with running_app(make_settings(db_url, fake, zalo_bot_api_url=f"http://127.0.0.1:{free_port()}"),
                           limiter=NullLimiter()):
        await eventually(lambda: any("getMe failed" in r.getMessage() for r in caplog.records))
    messages = [r.getMessage() for r in caplog.records]
    assert any("sendMessage: 400" in m for m in messages)
    assert any("getUpdates failed" in m for m in messages)
    assert any("getMe refused" in m for m in messages)
    text = "\n".join(messages) + caplog.text
    for token in (DEFAULT_TOKEN, "999:wrongTokenValue123", "wrongTokenValue123", DEFAULT_TOKEN.split(":")[1]):
        assert token not in text
    assert all(f"/bot{DEFAULT_TOKEN}/" in path for path in fake.paths[:1])  # it was in the URLs, though


async def test_create_says_why_the_channel_is_off(db_url, fake, tmp_path):
    async def create(**extra):
        return await zalo_bot.create(ChannelDeps(settings=make_settings(db_url, fake, **extra), store=None,
                                                 inbox=None, clock=SystemClock()))

    assert await create(zalo_bot_token=None) == Off("CHONNGHE_ZALO_BOT_TOKEN is not set")
    off = await create(zalo_bot_mode="webhook", zalo_bot_secret=SECRET)
    assert isinstance(off, Off) and "CHONNGHE_PUBLIC_URL" in off.reason
    off = await create(zalo_bot_mode="webhook", public_url="https://bot.example.vn")
    assert isinstance(off, Off) and "CHONNGHE_ZALO_BOT_SECRET" in off.reason
    off = await create(zalo_bot_mode="webhook", public_url="https://bot.example.vn", zalo_bot_secret="short")
    assert isinstance(off, Off) and "8 to 256" in off.reason
    on = await create()
    assert not isinstance(on, Off) and on.routes() == [] and on.status == "on"


# --- the adapter, webhook ------------------------------------------------------------------------


@pytest.fixture
async def hooked(db_url, fake):
    port = free_port()
    settings = make_settings(db_url, fake, zalo_bot_mode="webhook", zalo_bot_secret=SECRET, http_port=port,
                             public_url=f"http://127.0.0.1:{port}")
    async with running_app(settings, limiter=NullLimiter()) as running:
        await fake.wait_for(lambda: fake.webhook, what="setWebhook")
        yield running


async def test_webhook_registered_with_url_and_secret(hooked, fake):
    assert fake.webhook == {"url": f"http://127.0.0.1:{hooked.port}/zalo/bot/webhook", "secret_token": SECRET}


async def test_forged_webhook_gets_401_and_nothing_happens(hooked, fake):
    update = fake.message_update(USER, "/start", name="Mallory", message_id="forged-1")
    assert (await fake.post_webhook(update, secret="wrong-secret"))[0] == 401
    assert (await fake.post_webhook(update, secret=None))[0] == 401
    assert (await fake.post_webhook(update, secret=SECRET[:-1]))[0] == 401
    assert (await fake.post_webhook(update, secret=SECRET + "x"))[0] == 401
    assert (await fake.post_webhook(b"{not json", secret=SECRET))[0] == 400
    assert (await fake.post_webhook(b"[1, 2]", secret=SECRET))[0] == 400
    assert (await fake.post_webhook({"hello": "world"}, secret=SECRET))[0] == 400
    await settled(hooked)
    assert fake.messages_to(USER) == []
    async with hooked.store.session() as s:
        assert (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar_one() == 0
        assert (await s.execute(sa.select(sa.func.count()).select_from(ProcessedUpdate))).scalar_one() == 0
    # The same update with the right secret, wrapped as getUpdates wraps it, is handled.
    assert (await fake.post_webhook({"ok": True, "result": update}, secret=SECRET))[0] == 200
    await fake.wait_messages(USER, 2)


async def test_webhook_conversation_and_redelivery(hooked, fake):
    an = ZUser(fake)
    _welcome, who = await an.say("bắt đầu", expect=2)
    assert who.text.startswith("Bạn là ai?") and "6. Doanh nghiệp" in who.text
    (saved,) = await an.say("3")
    assert "Phụ huynh" in saved.text
    update = fake.message_update(USER, "/chude", message_id="again")
    for _ in range(3):
        assert (await fake.post_webhook(update, secret=SECRET))[0] == 200
    await fake.wait_messages(USER, 1, after=3)
    await settled(hooked)
    assert len(fake.messages_to(USER)) == 4
    assert all(status == 200 for status in fake.webhook_posts)
    assert re.search(r"chủ đề", fake.messages_to(USER)[-1].text)
