"""The Telegram adapter's pieces: parsing updates, keyboards, splitting, error mapping, send() to the fake."""

from __future__ import annotations

import asyncio

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram import (
    MAX_TEXT,
    TelegramChannel,
    keyboard,
    map_error,
    parse_update,
    split_text,
    utf16_len,
)
from bot.config import Settings
from bot.ports import Blocked, Permanent, RateLimited, Transient
from bot.types import Button, Reply
from tests.channels.faults import after_first_message
from tests.fakes.telegram_api import FakeTelegram

# python-telegram-bot warns, on every RetryAfter it builds, that retry_after will become a timedelta.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def update(data: dict) -> dict:
    return {"update_id": 1, **data}


def test_private_message_becomes_incoming():
    inc = parse_update(
        update(
            {
                "message": {
                    "message_id": 7,
                    "date": 1,
                    "chat": {"id": 55, "type": "private"},
                    "from": {"id": 55, "is_bot": False, "first_name": "Bình", "last_name": "Trần"},
                    "text": "/dangky tuyen_sinh",
                }
            }
        )
    )
    assert inc.user.channel == "telegram" and inc.user.user_id == "55" and inc.chat_id == "55"
    assert inc.command == ("dangky", ["tuyen_sinh"])
    assert inc.display_name == "Bình Trần" and inc.message_id == "7"


def test_staff_reply_in_group_keeps_chat_and_replied_message():
    inc = parse_update(
        update(
            {
                "message": {
                    "message_id": 9,
                    "date": 1,
                    "chat": {"id": -100500, "type": "supergroup", "title": "TV"},
                    "from": {"id": 42, "is_bot": False, "first_name": "Lan"},
                    "text": "Chào em",
                    "reply_to_message": {
                        "message_id": 3,
                        "date": 1,
                        "chat": {"id": -100500, "type": "supergroup"},
                        "from": {"id": 123, "is_bot": True, "first_name": "bot"},
                        "text": "card",
                    },
                }
            }
        ),
        bot_id=123,
    )
    assert (inc.user.user_id, inc.chat_id, inc.reply_to) == ("42", "-100500", "3")
    assert inc.reply_to_self


def test_button_press_and_sticker_and_ignored_updates():
    press = parse_update(update({"callback_query": {
        "id": "q1", "chat_instance": "c", "data": "dk:tuyen_sinh",
        "from": {"id": 55, "is_bot": False, "first_name": "B"},
        "message": {"message_id": 4, "date": 1, "chat": {"id": 55, "type": "private"}, "text": "x"}}}))
    assert (press.payload, press.text, press.chat_id, press.message_id) == ("dk:tuyen_sinh", "", "55", "4")
    sticker = parse_update(update({"message": {
        "message_id": 8, "date": 1, "chat": {"id": 55, "type": "private"},
        "from": {"id": 55, "is_bot": False, "first_name": "B"},
        "sticker": {"file_id": "a", "file_unique_id": "b", "type": "regular", "width": 1, "height": 1,
                    "is_animated": False, "is_video": False}}}))
    assert sticker.text == "" and sticker.media
    assert parse_update(update({"edited_message": {
        "message_id": 8, "date": 1, "edit_date": 2, "chat": {"id": 55, "type": "private"},
        "from": {"id": 55, "is_bot": False, "first_name": "B"}, "text": "x"}})) is None


@pytest.mark.parametrize("odd", [
    {"message": "not a dict"},
    {"message": {"message_id": 1, "chat": {"id": 5}, "text": "no sender"}},
    {"message": {"message_id": 1, "from": {"id": 5, "is_bot": True}, "chat": {"id": 5}, "text": "a bot"}},
    {"message": {"message_id": 1, "from": {"id": [5]}, "chat": {"id": 5}, "text": "odd id"}},
    {"callback_query": {"id": "q", "from": {"id": 5}, "game_short_name": "g"}},
    {"channel_post": {"message_id": 1, "chat": {"id": -1, "type": "channel"}, "text": "news"}},
    {},
])
def test_odd_updates_are_ignored_not_raised(odd):
    assert parse_update(update(odd)) is None


def test_keyboard_urls_payloads_and_overlong_data_dropped():
    reply = Reply("x", ((Button("Trang web", url="https://example.org"), Button("Tin", payload="dk")),
                        (Button("Quá dài", payload="a:" + "x" * 70),)))
    markup = keyboard(reply)["inline_keyboard"]
    assert markup == [
        [{"text": "Trang web", "url": "https://example.org"}, {"text": "Tin", "callback_data": "dk"}]
    ]
    assert keyboard(Reply("no buttons")) is None


def test_split_text_respects_the_limit_and_boundaries():
    assert split_text("ngắn") == ["ngắn"]
    para = "Câu một. " * 300
    text = para + "\n\n" + para + "\n\n" + "😀" * 3000
    pieces = split_text(text)
    assert all(utf16_len(p) <= MAX_TEXT for p in pieces)
    assert "".join(pieces).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert pieces[0].endswith("Câu một.")


@pytest.mark.parametrize(("make", "kind"), [
    (lambda: RetryAfter(3), RateLimited),
    (lambda: Forbidden("Forbidden: bot was blocked by the user"), Blocked),
    (lambda: Forbidden("Forbidden: user is deactivated"), Blocked),
    (lambda: BadRequest("Bad Request: chat not found"), Blocked),
    (lambda: BadRequest("Bad Request: message is too long"), Permanent),
    (lambda: TimedOut(), Transient),
    (lambda: NetworkError("Bad Gateway"), Transient),
])
def test_errors_are_mapped(make, kind):
    mapped = map_error(make())
    assert type(mapped) is kind
    if kind is RateLimited:
        assert mapped.retry_after == 3


@pytest.fixture
async def fake():
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def channel(fake, tmp_path):
    settings = Settings.load(_env_file=None, telegram_token="123:ABC", telegram_api_url=fake.base_url,
                             database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    ch = TelegramChannel(settings, store=None, inbox=None)  # send() needs neither
    yield ch
    await ch.close()


async def test_send_long_reply_in_pieces_with_buttons_on_the_last(channel, fake):
    text = ("Một đoạn khá dài. " * 200 + "\n\n") * 3
    message_id = await channel.send("1001", Reply(text, ((Button("OK", payload="m"),),)))
    sent = fake.messages_to(1001)
    assert len(sent) == 3  # cut at the paragraphs, each within 4,096
    assert [s.reply_markup for s in sent[:2]] == [None, None] and sent[2].payloads == ["m"]
    assert message_id == str(sent[2].message_id)
    assert all(s.text.startswith("Một đoạn") for s in sent)


async def test_a_502_on_the_second_piece_does_not_resend_the_first(channel, fake, monkeypatch):
    from bot.channels import base

    monkeypatch.setattr(base, "PIECE_BACKOFF", 0.01)
    text = ("Một đoạn khá dài. " * 200 + "\n\n") * 3
    after_first_message(fake, lambda: fake.fail_next(502))
    message_id = await channel.send("1001", Reply(text, ((Button("OK", payload="m"),),)))
    sent = fake.messages_to(1001)
    assert [s.text for s in sent] == split_text(text)  # each piece once, in order
    assert sent[2].payloads == ["m"] and message_id == str(sent[2].message_id)
    assert fake.status_counts[502] == 1


async def test_a_429_on_a_later_piece_waits_its_retry_after_there(channel, fake):
    text = ("Một đoạn khá dài. " * 200 + "\n\n") * 2
    after_first_message(fake, lambda: fake.fail_next(429))  # retry_after = 1 s
    loop = asyncio.get_running_loop()
    began = loop.time()
    await channel.send("1001", Reply(text))
    assert loop.time() - began >= 0.9
    assert [s.text for s in fake.messages_to(1001)] == split_text(text)


async def test_send_errors(channel, fake):
    fake.blocked.add(7)
    fake.missing.add(8)
    with pytest.raises(Blocked):
        await channel.send("7", Reply("x"))
    with pytest.raises(Blocked):
        await channel.send("8", Reply("x"))
    fake.fail_next(429)
    with pytest.raises(RateLimited) as info:
        await channel.send("9", Reply("x"))
    assert info.value.retry_after == 1
    fake.fail_next(502)
    with pytest.raises(Transient):
        await channel.send("9", Reply("x"))
    assert await channel.send("9", Reply("x")) == "1"


async def test_httpx_transport_is_available_for_comparison(fake, tmp_path):
    settings = Settings.load(_env_file=None, telegram_token="123:ABC", telegram_api_url=fake.base_url)
    ch = TelegramChannel(settings, store=None, inbox=None, transport="httpx")
    try:
        assert await ch.send("5", Reply("xin chào", ((Button("Menu", payload="m"),),))) == "1"
    finally:
        await ch.close()
    assert fake.messages_to(5)[0].payloads == ["m"]
