"""`chonnghe serve` as a subprocess with CHONNGHE_ZALO_BOT_TOKEN, against the fake Zalo Bot API started here,
in polling and in webhook mode: "bắt đầu" / /start shows the roles as a numbered list, "1" keeps the role,
a question is answered in Vietnamese, /dangky tuyen_sinh stores a subscription; SIGTERM exits 0."""

from __future__ import annotations

import sqlite3

import pytest

from tests.channels.test_zalo_bot import free_port
from tests.fakes.zalo_bot_api import DEFAULT_TOKEN, FakeZaloBot
from tests.test_serve_telegram import VIETNAMESE, Serve, content_for_serve, healthz, serve_env

USER = "5f1e2d3c4b5a6978"
SECRET = "serve-webhook-Secret_42"


@pytest.fixture
async def fake():
    async with FakeZaloBot(max_poll=2.0) as server:
        yield server


def subscriptions(tmp_path) -> list[tuple[str, str, str, int]]:
    """(channel, platform id, topic, active) rows in the served database."""
    with sqlite3.connect(tmp_path / "serve.db") as db:
        return db.execute("SELECT u.channel, u.platform_id, s.topic, s.active FROM subscriptions s "
                          "JOIN users u ON u.id = s.user_id").fetchall()


def role_of(tmp_path) -> str | None:
    with sqlite3.connect(tmp_path / "serve.db") as db:
        row = db.execute(
            "SELECT role FROM users WHERE channel = 'zalo_bot' AND platform_id = ?", (USER,)
        ).fetchone()
        return row[0] if row else None


async def conversation(fake: FakeZaloBot, tmp_path, start: str) -> None:
    async def say(text: str, expect: int = 1):
        before = len(fake.messages_to(USER))
        fake.push_text(USER, text, name="Minh")
        return await fake.wait_messages(USER, expect, after=before, within=15)

    welcome, who = await say(start, expect=2)
    assert "Thực học - Thực hành - Vững khởi nghiệp, sáng tương lai" in welcome.text
    assert who.text.startswith("Bạn là ai?\n\n1. Học sinh THCS\n2. Học sinh THPT\n3. Phụ huynh\n")
    assert "6. Doanh nghiệp" in who.text and who.text.endswith("Bạn trả lời một số từ 1 đến 6 để chọn.")

    (age,) = await say("1")
    assert "Học sinh THCS" in age.text and "1. Dưới 16 tuổi" in age.text
    assert role_of(tmp_path) == "hs_thcs"
    (menu,) = await say(" 2 ")  # 16 or older: no parent's agreement needed to subscribe
    assert VIETNAMESE.search(menu.text) and "1." in menu.text

    (answer,) = await say("Học nghề có được miễn học phí không?")
    assert VIETNAMESE.search(answer.text) and "học phí" in answer.text.lower()

    (subscribed,) = await say("/dangky tuyen_sinh")
    assert "Đã đăng ký nhận «" in subscribed.text
    assert subscriptions(tmp_path) == [("zalo_bot", USER, "tuyen_sinh", 1)]
    assert role_of(tmp_path) == "hs_thcs"
    assert all(len(m.text) <= 2000 and VIETNAMESE.search(m.text) for m in fake.messages_to(USER))


async def test_serve_polling(tmp_path, fake):
    env = serve_env(tmp_path, CHONNGHE_ZALO_BOT_TOKEN=DEFAULT_TOKEN, CHONNGHE_ZALO_BOT_API_URL=fake.url)
    async with Serve(env, "--content", content_for_serve()) as serve:
        health = await healthz(await serve.port())
        assert health["channels"]["zalo_bot"] == "on"
        await conversation(fake, tmp_path, "/start")
        assert await serve.terminate() == 0
    assert any("stopped cleanly" in line for line in serve.log)
    assert not any(DEFAULT_TOKEN in line for line in serve.log)


async def test_serve_webhook(tmp_path, fake):
    port = free_port()
    env = serve_env(tmp_path, CHONNGHE_ZALO_BOT_TOKEN=DEFAULT_TOKEN, CHONNGHE_ZALO_BOT_API_URL=fake.url,
                    CHONNGHE_ZALO_BOT_MODE="webhook", CHONNGHE_ZALO_BOT_SECRET=SECRET,
                    CHONNGHE_HTTP_PORT=str(port), CHONNGHE_PUBLIC_URL=f"http://127.0.0.1:{port}")
    async with Serve(env, "--content", content_for_serve()) as serve:
        assert await serve.port() == port
        hook = await fake.wait_for(lambda: fake.webhook, within=15, what="setWebhook")
        assert hook == {"url": f"http://127.0.0.1:{port}/zalo/bot/webhook", "secret_token": SECRET}
        forged = fake.message_update(USER, "/start", message_id="forged")
        assert (await fake.post_webhook(forged, secret="not-the-secret"))[0] == 401
        await conversation(fake, tmp_path, "bắt đầu")
        assert set(fake.webhook_posts) == {200}
        assert not any(call == "getUpdates" for call, _ in fake.calls)
        assert await serve.terminate() == 0
    assert any("stopped cleanly" in line for line in serve.log)
    assert not any(DEFAULT_TOKEN in line or SECRET in line for line in serve.log)


async def test_serve_webhook_without_secret_says_why(tmp_path, fake):
    env = serve_env(tmp_path, CHONNGHE_ZALO_BOT_TOKEN=DEFAULT_TOKEN, CHONNGHE_ZALO_BOT_API_URL=fake.url,
                    CHONNGHE_ZALO_BOT_MODE="webhook", CHONNGHE_PUBLIC_URL="https://bot.example.vn")
    async with Serve(env, "--content", content_for_serve()) as serve:
        health = await healthz(await serve.port())
        assert health["channels"]["zalo_bot"].startswith("off: CHONNGHE_ZALO_BOT_MODE=webhook needs "
                                                          "CHONNGHE_ZALO_BOT_SECRET")
        assert await serve.terminate() == 0
