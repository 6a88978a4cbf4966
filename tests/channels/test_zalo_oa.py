"""The Zalo OA channel against the fake OA API over loopback: webhook signatures, dedup, events, buttons
(template and numbered), error mapping, token refresh (expiry, concurrency, a dead refresh token)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
from datetime import UTC, datetime

import aiohttp
import pytest
import sqlalchemy as sa

from bot.channels import zalo_oa
from bot.channels.zalo_oa import map_error, seconds_until_morning, template_buttons, verify
from bot.channels.zalo_oauth import SEED_KEY, ZaloTokens
from bot.clock import FakeClock
from bot.config import Settings
from bot.outbound import NullLimiter
from bot.ports import Blocked, Deferred, Permanent, RateLimited, Skipped, Transient
from bot.storage.db import create_engine
from bot.storage.models import OAuthToken, ProcessedUpdate, User
from bot.storage.repo import Store
from bot.types import Button, Incoming, Reply, UserRef
from tests.channels.faults import after_first_message
from tests.conftest import BACKENDS
from tests.fakes import FIXTURE_CONTENT, eventually, running_app
from tests.fakes.zalo_oa_api import APP_ID, APP_SECRET, OA_SECRET_KEY, FakeZaloOA, SentMessage

USER = "8436000000000000001"
OTHER = "8436000000000000002"


def oa_settings(db_url: str, fake: FakeZaloOA, **extra) -> Settings:
    values = {"database_url": db_url, "content_dir": FIXTURE_CONTENT, "http_port": 0,
              "zalo_oa_app_id": APP_ID, "zalo_oa_app_secret": APP_SECRET, "zalo_oa_secret_key": OA_SECRET_KEY,
              "zalo_oa_access_token": "AT-0", "zalo_oa_refresh_token": "RT-0",
              "zalo_oa_api_url": fake.url, "zalo_oauth_url": fake.url, **extra}
    return Settings.load(_env_file=None, **values)


@pytest.fixture
async def fake():
    async with FakeZaloOA() as server:
        yield server


@pytest.fixture
async def app(db_url, fake):
    async with running_app(oa_settings(db_url, fake), limiter=NullLimiter()) as running:
        yield running


def hook(app) -> str:
    return f"http://127.0.0.1:{app.port}{zalo_oa.WEBHOOK_PATH}"


class OAUser:
    """A follower chatting with the OA through signed webhooks."""

    def __init__(self, fake: FakeZaloOA, app, user_id: str = USER):
        self.fake, self.app, self.id = fake, app, user_id

    @property
    def inbox(self) -> list[SentMessage]:
        return self.fake.messages_to(self.id)

    async def post(self, event: dict, expect: int = 1) -> list[SentMessage]:
        before = len(self.inbox)
        status, _ = await self.fake.post_webhook(hook(self.app), event)
        assert status == 200
        return await self.fake.wait_messages(self.id, expect, after=before)

    async def say(self, text: str, expect: int = 1) -> list[SentMessage]:
        return await self.post(self.fake.event_text(self.id, text), expect)

    async def tap(self, label: str, expect: int = 1) -> list[SentMessage]:
        """Press a template button: Zalo sends its oa.query.show payload back as the person's text."""
        for message in reversed(self.inbox):
            try:
                text = message.payload_of(label)
            except KeyError:
                continue
            return await self.say(text, expect)
        raise AssertionError(f"no button {label!r} in this chat")


async def count(store, model) -> int:
    async with store.session() as s:
        return (await s.execute(sa.select(sa.func.count()).select_from(model))).scalar_one()


# --- signatures ---------------------------------------------------------------------------------


def test_signature_matches_an_independently_computed_vector():
    body = b'{"app_id":"360846","event_name":"user_send_text","timestamp":"1757000000123"}'
    event = json.loads(body)
    # Zalo's scheme, computed here by hand: sha256(app_id + raw body + timestamp + OA secret key).
    mac = hashlib.sha256(b"360846" + body + b"1757000000123" + b"s3cr3t").hexdigest()
    assert mac == hashlib.sha256(("360846" + body.decode() + "1757000000123" + "s3cr3t").encode()).hexdigest()
    assert verify(f"mac={mac}", body, event, "s3cr3t")
    assert verify(f"mac={mac.upper()}", body, event, "s3cr3t")
    assert not verify(f"mac={mac}", body + b" ", event, "s3cr3t")  # the raw bytes count, not the JSON
    assert not verify(f"mac={mac}", body, event, "other")
    assert not verify("mac=" + "0" * 64, body, event, "s3cr3t")
    assert not verify(None, body, event, "s3cr3t")
    assert not verify("", body, event, "s3cr3t")
    # An integer timestamp in the JSON is hashed as its digits.
    raw = b'{"app_id": 360846, "timestamp": 1757000000123}'
    mac2 = hashlib.sha256(b"360846" + raw + b"1757000000123" + b"s3cr3t").hexdigest()
    assert verify(f"mac={mac2}", raw, json.loads(raw), "s3cr3t")


async def test_forged_or_missing_signature_gets_401_and_nothing_happens(app, fake):
    event = fake.event_text(USER, "/start")
    body = json.dumps(event).encode()
    assert (await fake.post_webhook(hook(app), event, signature=None))[0] == 401
    assert (await fake.post_webhook(hook(app), event, signature="mac=" + "ab" * 32))[0] == 401
    assert (await fake.post_webhook(hook(app), event, signature="garbage"))[0] == 401
    assert (await fake.post_webhook(hook(app), event, secret_key="not-the-oa-key"))[0] == 401
    good_mac = hashlib.sha256(APP_ID.encode() + body + event["timestamp"].encode()
                              + OA_SECRET_KEY.encode()).hexdigest()
    tampered = body.replace(b"/start", b"/huy  ")
    assert (await fake.post_webhook(hook(app), tampered, signature=f"mac={good_mac}"))[0] == 401
    # Malformed bodies: 400, and the server keeps going.
    assert (await fake.post_webhook(hook(app), b"{not json", signature=f"mac={good_mac}"))[0] == 400
    assert (await fake.post_webhook(hook(app), b"[1, 2]", signature=f"mac={good_mac}"))[0] == 400
    assert (await fake.post_webhook(hook(app), b"\xff\xfe", signature=f"mac={good_mac}"))[0] == 400
    await eventually(lambda: app.conversation.in_flight == 0)
    assert fake.sent == []
    assert await count(app.store, User) == 0
    assert await count(app.store, ProcessedUpdate) == 0
    # The same event, signed right (exactly the scheme above), is handled.
    assert (await fake.post_webhook(hook(app), body, signature=f"mac={good_mac}"))[0] == 200
    await fake.wait_messages(USER, 2)


async def test_redelivered_event_is_processed_once(app, fake):
    an = OAUser(fake, app)
    event = fake.event_text(USER, "/chude")
    for _ in range(3):
        assert (await fake.post_webhook(hook(app), event))[0] == 200
    await fake.wait_messages(USER, 1)
    (help_,) = await an.say("/trogiup")
    await eventually(lambda: app.conversation.in_flight == 0)
    assert len(an.inbox) == 2
    assert "chủ đề" in an.inbox[0].text and "Mình có thể" in help_.text
    async with app.store.session() as s:
        keys = (await s.execute(sa.select(ProcessedUpdate.source, ProcessedUpdate.key))).all()
    assert ("zalo_oa", event["message"]["msg_id"]) in keys


async def test_follow_is_welcomed_and_unfollow_marks_inactive(app, fake):
    an = OAUser(fake, app)
    welcome, who = await an.post(fake.event_follow(USER), expect=2)
    assert "Xin chào" in welcome.text and "/xoadulieu" in welcome.text
    assert who.text.startswith("Bạn là ai?")
    assert await an.app.store.users.get(UserRef("zalo_oa", USER)) is not None
    status, _ = await fake.post_webhook(hook(app), fake.event_unfollow(USER))
    assert status == 200

    async def inactive():
        user = await app.store.users.get(UserRef("zalo_oa", USER))
        return user is not None and not user.active
    await eventually(inactive, what="user marked inactive")
    assert len(an.inbox) == 2  # nothing is sent to someone who left


async def test_pictures_and_stickers_get_a_polite_answer_other_events_are_ignored(app, fake):
    an = OAUser(fake, app)
    (reply,) = await an.post(fake.event_image(USER))
    assert "chỉ đọc được tin nhắn dạng chữ" in reply.text
    (reply,) = await an.post(fake.event_sticker(USER))
    assert "chỉ đọc được tin nhắn dạng chữ" in reply.text
    assert (await fake.post_webhook(hook(app), fake.event_seen(USER)))[0] == 200
    oa_echo = {**fake.event_text(USER, "hi"), "event_name": "oa_send_text"}
    assert (await fake.post_webhook(hook(app), oa_echo))[0] == 200
    await eventually(lambda: app.conversation.in_flight == 0)
    assert len(an.inbox) == 2


# --- buttons -------------------------------------------------------------------------------------


def test_template_buttons_links_and_queries():
    reply = Reply("Chọn", ((Button("Trang web", url="https://example.edu.vn"), Button("Xem tiếp »", "p:2")),))
    items, labels = template_buttons(reply)
    assert items == [{"title": "Trang web", "type": "oa.open.url", "payload": {"url": "https://example.edu.vn"}},
                     {"title": "Xem tiếp »", "type": "oa.query.show", "payload": "Xem tiếp »"}]
    assert labels == {"xem tiếp »": "p:2"}
    long = Reply("x", ((Button("L" * 150, "a:1"),),))
    (item,), _ = template_buttons(long)
    assert len(item["title"]) == 100 and item["payload"] == item["title"]


async def test_up_to_five_buttons_are_a_template_more_are_a_numbered_list(app, fake):
    an = OAUser(fake, app)
    _welcome, who = await an.say("/start", expect=2)
    # Six roles: more than Zalo's five buttons, so a numbered list with no template.
    assert who.buttons == [] and "attachment" not in who.body["message"]
    assert "1. Học sinh THCS" in who.text and "6. Doanh nghiệp" in who.text
    (age,) = await an.say("1")  # the number is mapped back to the role button's payload
    assert "Học sinh THCS" in age.text and "tuổi" in age.text
    assert [b["type"] for b in age.buttons] == ["oa.query.show", "oa.query.show"]
    assert age.body["message"]["attachment"]["type"] == "template"
    (menu,) = await an.tap("Dưới 16")
    assert "cha mẹ" in menu.text
    # The main menu has six items (with the quiz): a numbered list too.
    assert menu.buttons == [] and "1. ❓ Hỏi đáp" in menu.text and "5. 🧭 Trắc nghiệm chọn nghề" in menu.text
    (intro,) = await an.say("1")  # the number presses "❓ Hỏi đáp" (typed as words it would be a question)
    assert "Bạn cứ gõ câu hỏi" in intro.text
    user = await app.store.users.get(UserRef("zalo_oa", USER))
    assert user.role == "hs_thcs" and user.under_16 is True


async def test_button_echo_becomes_a_payload_and_survives_a_restart(db_url, fake):
    settings = oa_settings(db_url, fake)
    async with running_app(settings, limiter=NullLimiter()) as app:
        channel = app.channels["zalo_oa"]
        await channel.send(USER, Reply("Chọn", ((Button("🔔 Nhận tin", "m:tin"), Button("Khác", "m:x")),)))
    async with running_app(settings, limiter=NullLimiter()) as app:
        channel = app.channels["zalo_oa"]
        pressed = await channel.resolve(Incoming(UserRef("zalo_oa", USER), text="🔔 Nhận tin", chat_id=USER))
        assert (pressed.payload, pressed.text) == ("m:tin", "")
        typed = await channel.resolve(Incoming(UserRef("zalo_oa", USER), text="nhận tin gì?", chat_id=USER))
        assert (typed.payload, typed.text) == (None, "nhận tin gì?")
        other = await channel.resolve(Incoming(UserRef("zalo_oa", OTHER), text="🔔 Nhận tin", chat_id=OTHER))
        assert other.payload is None


async def test_long_text_is_split_and_buttons_go_on_the_last_piece(app, fake):
    channel = app.channels["zalo_oa"]
    text = ("Một đoạn văn khá dài về học nghề. " * 140).strip()
    await channel.send(USER, Reply(text, ((Button("OK", "m:faq"),),)))
    pieces = fake.messages_to(USER)
    assert len(pieces) == 3 and all(len(p.text) <= 2000 for p in pieces)
    assert [bool(p.buttons) for p in pieces] == [False, False, True]
    assert " ".join(p.text for p in pieces).split() == text.split()


async def test_a_502_on_the_second_piece_does_not_resend_the_first(app, fake, monkeypatch):
    from bot.channels import base

    monkeypatch.setattr(base, "PIECE_BACKOFF", 0.01)
    ref = UserRef("zalo_oa", USER)
    await app.store.users.touch(ref)
    text = ("Một đoạn văn khá dài về học nghề. " * 140).strip()
    after_first_message(fake, lambda: fake.fail_next(502))
    message_id = await app.outbound.send_once(ref, Reply(text, ((Button("OK", "m:faq"),),)), bulk=True)
    pieces = fake.messages_to(USER)
    assert len(pieces) == 3 and " ".join(p.text for p in pieces).split() == text.split()  # each once
    assert [bool(p.buttons) for p in pieces] == [False, False, True]
    assert message_id == pieces[-1].message_id


async def test_later_piece_rate_limited_is_waited_out_and_blocked_is_not_raised(app, fake, monkeypatch):
    monkeypatch.setattr(zalo_oa, "RATE_LIMIT_PAUSE", 0.2)  # -32 carries no retry-after
    channel = app.channels["zalo_oa"]
    text = ("Một đoạn văn khá dài về học nghề. " * 100).strip()
    after_first_message(fake, lambda: fake.fail_next(-32))
    await channel.send(USER, Reply(text))
    assert len(fake.messages_to(USER)) == 2 and fake.rejected == [(USER, -32)]
    # The person blocks the OA between the pieces: the first is out, so the send counts as delivered.
    fake.sent, fake.by_user[OTHER] = [], []
    after_first_message(fake, lambda: fake.user_errors.__setitem__(OTHER, -213))
    message_id = await channel.send(OTHER, Reply(text))
    (first,) = fake.messages_to(OTHER)
    assert message_id == first.message_id and fake.rejected[-1] == (OTHER, -213)


# --- errors --------------------------------------------------------------------------------------


def test_error_codes_map_to_send_errors():
    noon = datetime(2026, 9, 1, 5, 0, tzinfo=UTC)  # 12:00 in Việt Nam
    assert isinstance(map_error(-213, "not follower", noon), Blocked)
    assert isinstance(map_error(-227, "banned", noon), Blocked)
    assert isinstance(map_error(-230, "window", noon), Skipped)
    assert isinstance(map_error(-232, "window", noon), Skipped)
    limited = map_error(-32, "rate", noon)
    assert isinstance(limited, RateLimited) and limited.retry_after > 0
    night = map_error(-234, "night", datetime(2026, 9, 1, 16, 0, tzinfo=UTC))  # 23:00 in Việt Nam
    assert isinstance(night, Deferred) and night.retry_after == 8 * 3600
    assert isinstance(map_error(-201, "bad", noon), Permanent)
    assert seconds_until_morning(datetime(2026, 9, 1, 23, 30, tzinfo=UTC)) == 30 * 60  # 06:30 -> 07:00
    assert seconds_until_morning(datetime(2026, 9, 1, 0, 0, tzinfo=UTC)) == 24 * 3600  # 07:00 -> tomorrow


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (-213, Blocked),
        (-227, Blocked),
        (-230, Skipped),
        (-232, Skipped),
        (-32, RateLimited),
        (-234, Deferred),
        (-201, Permanent),
        (-9999, Permanent),
        (502, Transient),
        (503, Transient),
    ],
)
async def test_send_errors_from_the_api(app, fake, code, error):
    fake.fail_next(code)
    with pytest.raises(error):
        await app.channels["zalo_oa"].send(USER, Reply("Chào bạn"))
    assert await app.channels["zalo_oa"].send(USER, Reply("Chào bạn")) is not None


async def test_blocked_user_is_marked_inactive_and_network_errors_are_transient(app, fake):
    await app.store.users.touch(UserRef("zalo_oa", OTHER))
    fake.user_errors[OTHER] = -213
    with pytest.raises(Blocked):
        await app.outbound.send_once(UserRef("zalo_oa", OTHER), Reply("Tin mới"))
    assert not (await app.store.users.get(UserRef("zalo_oa", OTHER))).active
    channel = app.channels["zalo_oa"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    channel.api_url = f"http://127.0.0.1:{closed}"
    with pytest.raises(Transient):
        await channel.send(USER, Reply("x"))


# --- tokens --------------------------------------------------------------------------------------


async def test_expired_token_is_refreshed_once_and_the_send_retried(app, fake):
    fake.expire_access_tokens()
    assert await app.channels["zalo_oa"].send(USER, Reply("Chào")) is not None
    assert dict(fake.refresh_uses) == {"RT-0": 1}
    assert [c for _, c in fake.rejected] == [-220]
    async with app.store.session() as s:
        row = await s.get(OAuthToken, "zalo_oa")
    assert (row.access_token, row.refresh_token, row.version, row.dead) == ("AT-1", "RT-1", 2, False)


async def test_invalid_token_and_http_401_also_refresh(app, fake):
    channel = app.channels["zalo_oa"]
    del fake.access_tokens["AT-0"]  # revoked: -216
    await channel.send(USER, Reply("một"))
    assert fake.rejected == [("", -216)] and fake.refreshes == 1
    fake.fail_next(401)
    await channel.send(USER, Reply("hai"))
    assert fake.refreshes == 2 and [m.text for m in fake.messages_to(USER)] == ["một", "hai"]
    fake.fail_next(-216, count=2)  # refused again right after a refresh: give up for now, no loop
    with pytest.raises(Transient):
        await channel.send(USER, Reply("ba"))
    assert fake.refreshes == 3


async def test_fifty_concurrent_sends_use_each_refresh_token_once(app, fake):
    fake.refresh_delay = 0.05  # a slow OAuth server: many sends are waiting while the refresh runs
    fake.expire_access_tokens()
    channel = app.channels["zalo_oa"]
    results = await asyncio.gather(
        *(channel.send(f"84360000000{i:04d}", Reply(f"Tin {i}")) for i in range(50))
    )
    assert all(results) and len(fake.sent) == 50
    assert fake.refreshes == 1
    assert all(uses == 1 for uses in fake.refresh_uses.values()), fake.refresh_uses
    # Expire again: the next refresh uses the new refresh token, once.
    fake.expire_access_tokens()
    await asyncio.gather(*(channel.send(f"84360000000{i:04d}", Reply("lần 2")) for i in range(50)))
    assert dict(fake.refresh_uses) == {"RT-0": 1, "RT-1": 1}


async def test_token_is_refreshed_before_it_expires(db_url, fake):
    clock = FakeClock(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))
    async with running_app(oa_settings(db_url, fake), limiter=NullLimiter(), clock=clock) as app:
        channel = app.channels["zalo_oa"]
        await channel.send(USER, Reply("trước"))
        assert fake.refreshes == 0
        clock.advance(minutes=45)  # a seeded token is trusted for an hour, refreshed 30 minutes early
        await channel.send(USER, Reply("sau"))
        assert fake.refreshes == 1 and fake.rejected == []
        assert [fake.sent[0].body, fake.sent[1].body] and channel.tokens.pair.access_token == "AT-1"
        clock.advance(hours=10)  # the new token lives 25 hours: no refresh yet
        await channel.send(USER, Reply("sau nữa"))
        assert fake.refreshes == 1


@pytest.mark.parametrize(
    "db_url", BACKENDS, indirect=True
)  # on PostgreSQL the mark is written under a row lock
async def test_dead_refresh_token_pauses_the_channel(app, fake, caplog):
    caplog.set_level(logging.INFO)
    fake.revoke_refresh()
    fake.expire_access_tokens()
    channel = app.channels["zalo_oa"]
    with pytest.raises(Deferred) as raised:
        await channel.send(USER, Reply("Chào"))
    assert raised.value.retry_after >= 60
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "bot.channels.zalo_oauth"]
    assert (
        errors
        and "PAUSED" in errors[0].getMessage()
        and "CHONNGHE_ZALO_OA_REFRESH_TOKEN" in errors[0].getMessage()
    )
    assert channel.status.startswith("paused: refresh token rejected")
    assert app.channel_status["zalo_oa"] == channel.status
    assert any("Zalo OA tạm dừng" in line for line in app.services.alerts())
    async with app.store.session() as s:
        row = await s.get(OAuthToken, "zalo_oa")
    assert row.dead and "Invalid refresh token" in row.dead_reason
    # Still alive: later sends are deferred without calling Zalo again, webhooks are accepted.
    uses = sum(fake.refresh_uses.values())
    with pytest.raises(Deferred):
        await channel.send(USER, Reply("lần nữa"))
    assert sum(fake.refresh_uses.values()) == uses
    assert (await fake.post_webhook(hook(app), fake.event_text(USER, "/trogiup")))[0] == 200
    await eventually(lambda: app.conversation.in_flight == 0)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{app.port}/healthz") as resp,
    ):
        assert (await resp.json())["channels"]["zalo_oa"].startswith("paused")


async def test_pair_is_seeded_once_then_lives_in_the_database(db_url, fake):
    settings = oa_settings(db_url, fake)
    async with running_app(settings, limiter=NullLimiter()) as app:
        fake.expire_access_tokens()
        await app.channels["zalo_oa"].send(USER, Reply("một"))
        assert await app.store.kv.get(SEED_KEY) not in (None, "RT-0")  # a fingerprint, never the token
    # Restart with the same (now used) env pair: the stored, rotated pair is used.
    async with running_app(settings, limiter=NullLimiter()) as app:
        await app.channels["zalo_oa"].send(USER, Reply("hai"))
        assert fake.token_checks["AT-1"] == 2 and fake.refresh_uses["RT-0"] == 1
    # Without env tokens the stored pair keeps the channel on.
    bare = oa_settings(db_url, fake, zalo_oa_access_token=None, zalo_oa_refresh_token=None)
    async with running_app(bare, limiter=NullLimiter()) as app:
        assert app.channel_status["zalo_oa"] == "on"
        await app.channels["zalo_oa"].send(USER, Reply("ba"))
        assert fake.token_checks["AT-1"] == 3
    # The operator authorised the app again: a new env pair replaces the stored one (even a dead one).
    fake.revoke_refresh()
    fake.refresh_token = "RT-new"
    fake.access_tokens["AT-new"] = fake.access_tokens["AT-1"]
    renewed = oa_settings(db_url, fake, zalo_oa_access_token="AT-new", zalo_oa_refresh_token="RT-new")
    async with running_app(renewed, limiter=NullLimiter()) as app:
        await app.channels["zalo_oa"].send(USER, Reply("bốn"))
        assert fake.token_checks["AT-new"] == 1


async def test_channel_off_without_configuration_says_why(db_url, fake):
    async with running_app(oa_settings(db_url, fake, zalo_oa_app_id=None)) as app:
        assert app.channel_status["zalo_oa"] == "off: CHONNGHE_ZALO_OA_APP_ID is not set"
    async with running_app(oa_settings(db_url, fake, zalo_oa_secret_key=None, zalo_oa_app_id=None)) as app:
        assert (
            "CHONNGHE_ZALO_OA_APP_ID and CHONNGHE_ZALO_OA_SECRET_KEY are not set"
            in app.channel_status["zalo_oa"]
        )
    async with running_app(oa_settings(db_url, fake, zalo_oa_refresh_token=None)) as app:
        assert app.channel_status["zalo_oa"].startswith("off: no token pair")
        assert "zalo_oa" not in app.channels


@pytest.mark.parametrize("db_url", [p for p in BACKENDS if getattr(p, "values", None) == ("postgresql",)],
                         indirect=True)
async def test_two_workers_never_use_the_same_refresh_token(db_url, fake):
    """Two processes (two engines, two token keepers) refreshing at once on PostgreSQL: the row lock makes
    the second adopt the first one's pair."""
    settings = oa_settings(db_url, fake)
    from bot.storage.db import migrate

    engines = [create_engine(db_url) for _ in range(2)]
    await migrate(engines[0])
    clock = FakeClock(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))
    async with aiohttp.ClientSession() as http:
        keepers = [ZaloTokens(settings, Store(e, clock), lambda: http) for e in engines]
        for keeper in keepers:
            await keeper.load()
        fake.refresh_delay = 0.2
        fake.expire_access_tokens()
        tokens = await asyncio.gather(*(k.refresh("AT-0") for k in keepers for _ in range(5)))
    for e in engines:
        await e.dispose()
    assert set(tokens) == {"AT-1"}
    assert dict(fake.refresh_uses) == {"RT-0": 1}
