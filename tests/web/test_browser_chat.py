"""The chat page in real Chromium against the whole bot in this event loop (see tests/web/browser.py)."""

from __future__ import annotations

import aiohttp

from tests.web.chat import BOT, USER, ask, open_chat, press, wait_bot


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


async def test_a_reload_finds_the_conversation(web_bot, browser_pages):
    page = await browser_pages.new(phone=True)
    await open_chat(page, web_bot.url + "/")
    await ask(page, "hoc nghe han o dau")
    before = [await m.inner_text() for m in await page.locator("[role=log] [data-from]").all()]
    await page.reload()
    await page.wait_for_function("(n) => document.querySelectorAll('[role=log] [data-from]').length >= n",
                                 arg=len(before))
    after = [await m.inner_text() for m in await page.locator("[role=log] [data-from]").all()]
    assert after == before
    # Still the same conversation: the next answer comes below the old ones, no second greeting.
    await ask(page, "hoc nghe co mat tien khong")
    assert await page.locator(BOT).filter(has_text="Xin chào").count() == 1
    await browser_pages.snap(page, "chat-reload")


async def test_a_broadcast_arrives_while_the_page_is_open(web_bot, browser_pages):
    page = await browser_pages.new()
    await open_chat(page, web_bot.url + "/")
    subscribed = await ask(page, "/dangky tuyen_sinh")
    assert "Đã đăng ký nhận" in await subscribed.inner_text()
    broadcast = await web_bot.broadcast("Ngày hội tư vấn tuyển sinh: xem https://example.org/ngay-hoi nhé.")
    arrived = page.locator(BOT).filter(has_text="Ngày hội tư vấn tuyển sinh")
    await arrived.wait_for()
    link = arrived.get_by_role("link", name="https://example.org/ngay-hoi")
    assert await link.get_attribute("rel") == "noopener noreferrer"
    shown = await web_bot.broadcast_done(broadcast)
    assert shown["channels"]["web"]["sent"] == 1
    await browser_pages.snap(page, "chat-broadcast-live")


async def test_a_broadcast_sent_while_the_page_is_closed_shows_as_unread(web_bot, browser_pages):
    context = await browser_pages.context(phone=True)
    page = await browser_pages.new(context=context)
    await open_chat(page, web_bot.url + "/")
    await ask(page, "/dangky tuyen_sinh")
    await page.wait_for_timeout(600)  # the page acknowledges what it showed (debounced 400 ms)
    await page.close()
    broadcast = await web_bot.broadcast("Lịch tuyển sinh đợt 2 đã có.")
    await web_bot.broadcast_done(broadcast)
    again = await browser_pages.new(context=context)
    await again.goto(web_bot.url + "/")
    badge = again.locator("#unread")
    await badge.wait_for()
    assert await badge.inner_text() == "1 tin mới"
    assert await again.locator(".divider").inner_text() == "Tin mới"
    assert await again.locator(BOT).last.inner_text() != ""
    assert "Lịch tuyển sinh đợt 2" in await again.locator(BOT).last.inner_text()
    assert (await again.title()).startswith("(1) ")
    await browser_pages.snap(again, "chat-unread")


INJECTIONS = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "javascript:window.__pwned=3",
    'xem https://example.org/a"><b onmouseover=alert(1)>x</b> nhé',
]


async def test_injection_attempts_show_as_text(web_bot, browser_pages):
    page = await browser_pages.new()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    await open_chat(page, web_bot.url + "/")
    for attack in INJECTIONS:
        await ask(page, attack)
        assert await page.locator(USER).last.inner_text() == attack
    log = page.get_by_role("log")
    assert await log.locator("img, script, b").count() == 0
    links = await log.locator("a").all()
    assert [await a.get_attribute("href") for a in links] == ["https://example.org/a"]  # http(s) only, cut at "
    assert await page.evaluate("window.__pwned") is None and dialogs == []
    assert browser_pages.page_errors(page) == []
    await browser_pages.snap(page, "chat-injection")


async def test_the_page_works_with_the_keyboard_only(web_bot, browser_pages):
    page = await browser_pages.new()
    await open_chat(page, web_bot.url + "/")
    focused = await page.evaluate("document.activeElement.getAttribute('aria-describedby')")
    assert focused == "hint"  # the text box has the focus at once
    await page.keyboard.type("hoc nghe han o dau")
    await page.keyboard.press("Enter")
    answer = await wait_bot(page, 2)
    assert "Nghề Hàn" in await answer.inner_text()
    # Back from the text box to the answer's last button (feedback), then to "Hữu ích".
    for _ in range(2):
        await page.keyboard.press("Shift+Tab")
    label = await page.evaluate("document.activeElement.textContent")
    assert label.startswith("Hữu ích") and await page.evaluate(
        "document.activeElement.closest('[data-from]').getAttribute('data-from')") == "bot"
    await browser_pages.snap(page, "chat-keyboard")
    before = await page.locator(BOT).count()
    await page.keyboard.press("Enter")
    thanks = await wait_bot(page, before)
    assert "Cảm ơn" in await thanks.inner_text()
    # Shift+Enter makes a new line instead of sending.
    await page.get_by_role("textbox", name="Nhập câu hỏi của bạn").focus()
    await page.keyboard.type("dòng một")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("dòng hai")
    assert await page.get_by_role("textbox", name="Nhập câu hỏi của bạn").input_value() == "dòng một\ndòng hai"


async def test_new_conversation_starts_over(web_bot, browser_pages):
    page = await browser_pages.new()
    await open_chat(page, web_bot.url + "/")
    await ask(page, "hoc nghe han o dau")
    await page.get_by_role("button", name="Cuộc trò chuyện mới").click()
    await page.wait_for_function("() => !document.querySelector('[role=log] [data-from=user]')"
                                 " && document.querySelectorAll('[role=log] [data-from=bot]').length >= 1")
    assert "Nghề Hàn" not in await page.get_by_role("log").inner_text()
