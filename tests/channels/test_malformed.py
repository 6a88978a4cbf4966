"""Malformed updates on all three channels: a field of the wrong type anywhere in an update never raises
out of the parsers (a bounded fuzz of every field with every JSON type), and end to end a poison update
is logged once, acknowledged (200 on the webhooks) and never keeps the updates around it from being
answered, in webhook and in polling mode."""

from __future__ import annotations

import copy
import json
import logging
import socket
from typing import Any

import pytest

from bot.channels import telegram, zalo_bot, zalo_oa
from bot.outbound import NullLimiter
from tests.channels.test_telegram_polling import make_settings as tg_settings
from tests.channels.test_zalo_bot import make_settings as zb_settings
from tests.channels.test_zalo_oa import hook, oa_settings
from tests.fakes import eventually, running_app
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import FakeZaloOA

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

WRONG = ["", "x", 0, 7, -1.5, True, None, [], [1, "a"], {}, {"id": []}]

TG_SAMPLES: list[dict[str, Any]] = [
    {"update_id": 1, "message": {
        "message_id": 5, "date": 1, "chat": {"id": 1001, "type": "private"},
        "from": {"id": 1001, "is_bot": False, "first_name": "An", "last_name": "Lê", "username": "an"},
        "text": "/start", "caption": "c",
        "reply_to_message": {"message_id": 3, "from": {"id": 123, "is_bot": True}}}},
    {"update_id": 2, "callback_query": {
        "id": "cb1", "from": {"id": 1001, "first_name": "An"}, "data": "m:1",
        "message": {"message_id": 9, "chat": {"id": 1001, "type": "private"}}}},
    {"update_id": 3, "my_chat_member": {
        "chat": {"id": 1001, "type": "private"}, "from": {"id": 1001},
        "new_chat_member": {"status": "kicked", "user": {"id": 123}}}},
]
OA_SAMPLES: list[dict[str, Any]] = [
    {"app_id": "1", "event_name": "user_send_text", "timestamp": "1", "sender": {"id": "8"},
     "message": {"text": "hi", "msg_id": "m1"}},
    {"app_id": "1", "event_name": "user_send_image", "timestamp": "1", "sender": {"id": "8"},
     "message": {"msg_id": "m2", "attachments": [{"type": "image"}]}},
    {"app_id": "1", "event_name": "follow", "timestamp": "1", "follower": {"id": "8"}},
]
ZB_SAMPLES: list[dict[str, Any]] = [
    {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": "7a", "display_name": "An", "is_bot": False},
            "chat": {"id": "7a", "chat_type": "PRIVATE"},
            "text": "/start",
            "message_id": "m1",
            "date": 1,
        },
    },
    {
        "ok": True,
        "result": {
            "event_name": "message.image.received",
            "message": {"from": {"id": "7a"}, "chat": {"id": "g1", "chat_type": "GROUP"}, "message_id": "m2"},
        },
    },
]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside `node` (dict keys and list indexes)."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


def _mutants(sample: dict) -> list[Any]:
    """The sample with each value in turn replaced by each wrong-typed value, plus wrong top levels."""
    out: list[Any] = [[], "x", 3, None]
    for path in _paths(sample):
        for wrong in WRONG:
            mutant = copy.deepcopy(sample)
            node = mutant
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = wrong
            out.append(mutant)
    return out


def test_parsers_never_raise_on_a_field_of_the_wrong_type():
    checked = 0
    for sample in TG_SAMPLES:
        for mutant in _mutants(sample):
            telegram.parse_update(mutant, 123)
            checked += 1
    for sample in OA_SAMPLES:
        for mutant in _mutants(sample):
            zalo_oa.parse_event(mutant)
            checked += 1
    for sample in ZB_SAMPLES:
        for mutant in _mutants(sample):
            for update in zalo_bot.unwrap(mutant):
                zalo_bot.parse_update(update)
            checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    "poison",
    [
        {
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": [1001],
                "from": {"id": 1001, "is_bot": False},
                "text": "x",
            }
        },
        {
            "message": {
                "message_id": 1,
                "date": 1,
                "chat": "1001",
                "from": {"id": 1001, "is_bot": False},
                "text": "x",
            }
        },
        {"callback_query": {"id": "q1", "from": "1001", "data": "x"}},
        {
            "callback_query": {
                "id": "q1",
                "from": {"id": 1001},
                "data": "x",
                "message": {"message_id": 1, "chat": 1001},
            }
        },
        {"my_chat_member": {"chat": "1001", "from": {"id": 1001}, "new_chat_member": {"status": "kicked"}}},
    ],
    ids=["chat-list", "chat-string", "from-string", "message-chat-int", "member-chat-string"],
)
def test_telegram_poison_shapes_are_ignored(poison):
    assert telegram.parse_update({"update_id": 1, **poison}, 123) is None


def test_oa_event_name_a_list_is_ignored():
    assert zalo_oa.parse_event({"event_name": ["user_send_text"], "sender": {"id": "1"}}) == (None, None)


def _count(caplog, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


POISON_TG = {"message": {"message_id": 1, "date": 1, "chat": [1001], "from": {"id": 1001, "is_bot": False},
                         "text": "/chude"}}


async def test_telegram_polling_poison_does_not_lose_the_updates_after_it(db_url, caplog):
    caplog.set_level(logging.WARNING)
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter()):
        fake.push_update(copy.deepcopy(POISON_TG))
        for user in (2001, 2002, 2003):
            fake.push_message(user, "/chude")
        for user in (2001, 2002, 2003):
            await fake.wait_messages(user, 1)
        assert _count(caplog, "malformed update") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_telegram_webhook_acknowledges_a_poison_update(db_url, caplog):
    caplog.set_level(logging.WARNING)
    port = _free_port()
    async with FakeTelegram() as fake:
        settings = tg_settings(
            db_url,
            fake,
            telegram_mode="webhook",
            http_port=port,
            public_url=f"http://127.0.0.1:{port}",
            telegram_webhook_secret="s3cret-Token_1",
        )
        async with running_app(settings, limiter=NullLimiter()):
            await fake.wait_for(lambda: fake.webhook, what="setWebhook")
            for n, shape in enumerate([POISON_TG, {"callback_query": {"id": "q", "from": "x", "data": "d"}},
                                       {"my_chat_member": {"chat": "1001"}}]):
                status, _ = await fake.post_webhook({"update_id": 50 + n, **shape}, secret="s3cret-Token_1")
                assert status == 200
            fake.push_message(2001, "/chude")
            await fake.wait_messages(2001, 1)
        assert _count(caplog, "malformed update") == 3


async def test_oa_webhook_acknowledges_a_poison_event(db_url, caplog):
    caplog.set_level(logging.WARNING)
    async with FakeZaloOA() as fake, running_app(oa_settings(db_url, fake), limiter=NullLimiter()) as app:
        poison = fake.event_text("8436000000000000001", "/chude")
        poison["event_name"] = ["user_send_text"]
        assert (await fake.post_webhook(hook(app), poison))[0] == 200
        poison2 = fake.event_text("8436000000000000001", "/chude")
        poison2["message"] = ["x"]
        poison2["sender"] = "8436000000000000001"
        assert (await fake.post_webhook(hook(app), poison2))[0] == 200
        good = fake.event_text("8436000000000000002", "/chude")
        assert (await fake.post_webhook(hook(app), good))[0] == 200
        await fake.wait_messages("8436000000000000002", 1)
        assert fake.messages_to("8436000000000000001") == []
        assert _count(caplog, "malformed") >= 1


async def test_zalo_bot_polling_poison_does_not_lose_the_updates_after_it(db_url, caplog):
    caplog.set_level(logging.WARNING)
    async with (
        FakeZaloBot(max_poll=0.3) as fake,
        running_app(zb_settings(db_url, fake), limiter=NullLimiter()),
    ):
        bad = fake.message_update("u0", "/chude")
        bad["message"]["chat"] = ["u0"]
        bad["message"]["from"] = "u0"
        fake.push_update(bad)
        fake.push_update({"event_name": {"x": 1}, "message": {"chat": {"id": {"a": 1}}, "from": {"id": []}}})
        for user in ("u1", "u2", "u3"):
            fake.push_text(user, "/chude")
        for user in ("u1", "u2", "u3"):
            await fake.wait_messages(user, 1)


async def test_zalo_bot_webhook_acknowledges_a_poison_update(db_url):
    port = _free_port()
    async with FakeZaloBot(max_poll=0.3) as fake:
        settings = zb_settings(db_url, fake, zalo_bot_mode="webhook", http_port=port,
                               public_url=f"http://127.0.0.1:{port}", zalo_bot_secret="zb-Webhook_s3cret")
        async with running_app(settings, limiter=NullLimiter()):
            await eventually(lambda: fake.webhook, what="setWebhook")
            body = json.dumps({"event_name": "message.text.received",
                               "message": {"chat": 5, "from": "x", "text": ["a"], "message_id": {}}}).encode()
            status, _ = await fake.post_webhook(body, secret="zb-Webhook_s3cret")
            assert status == 200
            fake.push_text("u1", "/chude")
            await fake.wait_messages("u1", 1)
