"""The chat page in real Chromium against the whole bot in this event loop (see tests/web/browser.py)."""

from __future__ import annotations

import aiohttp

from tests.web.chat import BOT, USER, ask, open_chat, press


async def test_unaccented_question_gets_the_welding_answer(web_bot, browser_pages):
    for phone in (True, False):
        page = await browser_pages.new(phone=phone)
        await open_chat(page, web_bot.url + "/")
        first = page.locator(BOT).first
        assert "Xin chào" in await first.inner_text()
        if phone:
            await browser_pages.snap(page, "chat-welcome")
        answer = await ask(page, "hoc nghe han o dau")
        text = await answer.inner_text()
        assert "Nghề Hàn" in text
        assert await page.locator(USER).last.inner_text() == "hoc nghe han o dau"
        await browser_pages.snap(page, "chat-answer")
        assert browser_pages.foreign(page, web_bot.origin) == []
        assert browser_pages.page_errors(page) == []


async def test_pressing_a_reply_button_gets_a_reply(web_bot, browser_pages):
    page = await browser_pages.new()
    await open_chat(page, web_bot.url + "/")
    who = page.locator(BOT).nth(1)
    assert await who.locator("button").count() == 6  # the buttons are inside the reply's element
    reply = await press(page, who, "Phụ huynh")
    assert "Phụ huynh" in await reply.inner_text()
    assert await page.locator(USER).last.inner_text() == "Phụ huynh"
    await browser_pages.snap(page, "chat-button")


async def test_the_page_carries_a_strict_csp(web_bot):
    async with aiohttp.ClientSession() as s, s.get(web_bot.url + "/") as resp:
        csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'self'" in csp
