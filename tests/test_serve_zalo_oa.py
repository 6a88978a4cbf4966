"""`chonnghe serve` as a subprocess with the Zalo OA settings, against the fake OA API started here; the
test signs webhooks the way Zalo does: follow -> welcome, /start -> role choice, a role kept, buttons
pressed through their echoed payload text, a question answered in Vietnamese, /dangky tuyen_sinh stored."""

from __future__ import annotations

import sqlite3

import pytest

from tests.fakes.zalo_oa_api import APP_ID, APP_SECRET, OA_SECRET_KEY, FakeZaloOA
from tests.test_serve_telegram import VIETNAMESE, Serve, content_for_serve, healthz, serve_env

USER = "7351000000000000042"


@pytest.fixture
async def fake():
    async with FakeZaloOA() as server:
        yield server


async def test_serve_talks_on_zalo_oa(tmp_path, fake):
    env = serve_env(tmp_path, CHONNGHE_ZALO_OA_APP_ID=APP_ID, CHONNGHE_ZALO_OA_APP_SECRET=APP_SECRET,
                    CHONNGHE_ZALO_OA_SECRET_KEY=OA_SECRET_KEY, CHONNGHE_ZALO_OA_ACCESS_TOKEN="AT-0",
                    CHONNGHE_ZALO_OA_REFRESH_TOKEN="RT-0", CHONNGHE_ZALO_OA_API_URL=fake.url,
                    CHONNGHE_ZALO_OAUTH_URL=fake.url)
    async with Serve(env, "--content", content_for_serve()) as serve:
        port = await serve.port()
        health = await healthz(port)
        assert health["channels"]["zalo_oa"] == "on"
        url = f"http://127.0.0.1:{port}/zalo/oa/webhook"

        async def post(event: dict, expect: int = 1):
            before = len(fake.messages_to(USER))
            status, _ = await fake.post_webhook(url, event)
            assert status == 200
            return await fake.wait_messages(USER, expect, after=before, within=15)

        async def say(text: str, expect: int = 1):
            return await post(fake.event_text(USER, text), expect)

        async def tap(message, label: str, expect: int = 1):
            return await say(message.payload_of(label), expect)

        # A forged event changes nothing.
        status, _ = await fake.post_webhook(url, fake.event_text(USER, "/start"), signature="mac=" + "0" * 64)
        assert status == 401

        welcome, who = await post(fake.event_follow(USER), expect=2)
        assert "Thực học - Thực hành - Vững khởi nghiệp, sáng tương lai" in welcome.text
        assert who.text.startswith("Bạn là ai?")

        _again, who = await say("/start", expect=2)
        # Six roles, more than the five buttons a Zalo message holds: a numbered list.
        assert "2. Học sinh THPT" in who.text and who.buttons == []
        (age,) = await say("2")
        assert "Học sinh THPT" in age.text and "tuổi" in age.text
        assert {b["type"] for b in age.buttons} == {"oa.query.show"}
        (menu,) = await tap(age, "Từ 16")
        # Six menu items (with the quiz), more than a Zalo template's five buttons: a numbered list.
        assert menu.buttons == [] and "Bạn muốn làm gì?" in menu.text and "1. ❓ Hỏi đáp" in menu.text
        (intro,) = await say("1")
        assert "Bạn cứ gõ câu hỏi" in intro.text

        (answer,) = await say("Học nghề có được miễn học phí không?")
        assert VIETNAMESE.search(answer.text)
        (subscribed,) = await say("/dangky tuyen_sinh")
        assert "Đã đăng ký nhận «" in subscribed.text

        assert all(VIETNAMESE.search(m.text) for m in fake.messages_to(USER))
        assert fake.rejected == []
        assert await serve.terminate() == 0
    assert any("stopped cleanly" in line for line in serve.log)

    db = sqlite3.connect(tmp_path / "serve.db")
    try:
        role, active = db.execute(
            "SELECT role, active FROM users WHERE channel = 'zalo_oa' AND platform_id = ?", (USER,)
        ).fetchone()
        topics = [r[0] for r in db.execute("SELECT topic FROM subscriptions WHERE active")]
        tokens = db.execute(
            "SELECT access_token, dead FROM oauth_tokens WHERE channel = 'zalo_oa'"
        ).fetchone()
    finally:
        db.close()
    assert (role, active) == ("hs_thpt", 1)
    assert topics == ["tuyen_sinh"]
    assert tokens == ("AT-0", 0)


async def test_serve_without_oa_settings_says_why(tmp_path):
    async with Serve(
        serve_env(tmp_path, CHONNGHE_ZALO_OA_APP_ID=APP_ID), "--content", content_for_serve()
    ) as serve:
        health = await healthz(await serve.port())
        assert health["channels"]["zalo_oa"] == "off: CHONNGHE_ZALO_OA_SECRET_KEY is not set"
        assert await serve.terminate() == 0
