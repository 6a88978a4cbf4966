"""The widget on a school's page of another origin (a second loopback server, under a strict CSP of its
own): the launcher opens the chat in an iframe, which answers; the host page's CSS cannot touch it."""

from __future__ import annotations

from aiohttp import web

from bot import app as app_module
from tests.fakes import eventually
from tests.web.chat import BOT, TEXTBOX
from tests.web.conftest import start_bot, web_settings

HOST_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Trường Cao đẳng Thử nghiệm</title>
<link rel="stylesheet" href="/host.css"><link rel="icon" href="data:,"></head>
<body><h1>Trường Cao đẳng Thử nghiệm</h1><p>Trang của trường, có nhúng trợ lý tư vấn.</p>
<script src="{bot}/widget.js" async data-title="Tư vấn tuyển sinh" data-colour="#8a1538"
        data-position="left" data-greeting="Bạn cần tư vấn chọn nghề?"></script>
</body></html>"""
# The host's CSS tries to restyle everything, including iframes and buttons.
HOST_CSS = "* { color: #0f0 !important; font-size: 30px !important; } button { display: none !important; }" \
           " iframe { opacity: .1 !important; } h1 { font-family: serif; }"


async def host_server(aiohttp_server, where: dict[str, str]):
    """The school's site; `where["bot"]` is the bot's origin (known once the bot has started)."""

    async def page(_request):
        bot_origin = where["bot"]
        return web.Response(text=HOST_PAGE.format(bot=bot_origin), content_type="text/html", headers={
            # A school with a strict policy of its own: the widget needs no inline script or style.
            "Content-Security-Policy": f"default-src 'self'; script-src 'self' {bot_origin}; "
                                       f"frame-src {bot_origin}; style-src 'self'; img-src 'self' data:"})

    async def css(_request):
        return web.Response(text=HOST_CSS, content_type="text/css")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/host.css", css)
    return await aiohttp_server(app)


async def school_and_bot(aiohttp_server, db_url):
    """The school's site on "localhost" and the bot on "127.0.0.1" (another origin and another site), the
    bot allowing the school to embed it: (the school's origin, the bot, the bot's origin)."""
    where: dict[str, str] = {}
    host = await host_server(aiohttp_server, where)
    host_origin = f"http://localhost:{host.port}"
    bot = await start_bot(aiohttp_server, web_settings(db_url, web_origins=host_origin))
    bot_origin = where["bot"] = f"http://127.0.0.1:{bot.server.port}"
    return host_origin, bot, bot_origin


async def test_the_widget_on_a_host_page_of_another_origin(aiohttp_server, db_url, browser_pages):
    host_origin, bot, bot_origin = await school_and_bot(aiohttp_server, db_url)
    try:
        for phone in (False, True):
            page = await browser_pages.new(phone=phone)
            await page.goto(host_origin + "/")
            greeting = page.get_by_role("button", name="Bạn cần tư vấn chọn nghề?")
            await greeting.wait_for()
            launcher = page.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh")
            assert await launcher.get_attribute("aria-expanded") == "false"
            await browser_pages.snap(page, "widget-closed")
            await launcher.click()
            chat = page.frame_locator("iframe[title='Tư vấn tuyển sinh']")
            await chat.locator(BOT).nth(1).wait_for()
            assert await chat.locator("h1").inner_text() == "Tư vấn tuyển sinh"
            box = chat.get_by_role("textbox", name=TEXTBOX)
            await box.fill("hoc nghe han o dau")
            await box.press("Enter")
            await chat.locator(BOT).filter(has_text="Nghề Hàn").wait_for()
            # The host's CSS did not reach into the chat: its text keeps its own colour and size.
            colour = await chat.locator(BOT).last.evaluate("e => getComputedStyle(e).color")
            assert colour == "rgb(27, 31, 36)"
            await browser_pages.snap(page, "widget-open")
            # Closing gives the focus back to the launcher (keyboard users).
            if not phone:
                await page.keyboard.press("Escape")  # handled inside the iframe: asks the host to close
                await page.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh").wait_for()
            assert browser_pages.foreign(page, host_origin, bot_origin) == []
            assert browser_pages.page_errors(page) == []
    finally:
        await app_module.stop(bot.app)


async def test_the_chat_page_refuses_to_be_framed_by_other_sites(aiohttp_server, db_url, browser_pages):
    bot = await start_bot(aiohttp_server, web_settings(db_url))  # no CHONNGHE_WEB_ORIGINS
    try:
        host = await host_server(aiohttp_server, {"bot": f"http://127.0.0.1:{bot.server.port}"})
        page = await browser_pages.new()
        await page.goto(f"http://localhost:{host.port}/")
        await page.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh").click()
        frame = page.frame_locator("iframe[title='Tư vấn tuyển sinh']")
        await page.wait_for_timeout(1000)
        assert await frame.locator("[role=log]").count() == 0  # blocked by frame-ancestors
    finally:
        await app_module.stop(bot.app)


async def test_the_launcher_counts_what_arrived_unseen(aiohttp_server, db_url, browser_pages):
    # A subscriber closes the panel; a broadcast arrives: the launcher shows 1. On the next page of the
    # school's site the count comes from the hidden helper page; opening the chat clears it, for good.
    host_origin, bot, bot_origin = await school_and_bot(aiohttp_server, db_url)
    try:
        context = await browser_pages.context()
        page = await browser_pages.new(context=context)
        await page.goto(host_origin + "/")
        await page.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh").click()
        chat = page.frame_locator("iframe[title='Tư vấn tuyển sinh']")
        await chat.locator(BOT).nth(1).wait_for()
        box = chat.get_by_role("textbox", name=TEXTBOX)
        await box.fill("/dangky tuyen_sinh")
        await box.press("Enter")
        await chat.locator(BOT).nth(2).wait_for()
        (visitor,) = bot.web.conns
        last = await bot.web.mailbox.since(visitor)
        await eventually(lambda: bot.web.read.get(visitor) == last[-1].id, what="the page acknowledged")
        await page.keyboard.press("Escape")
        launcher = page.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh", exact=True)
        await launcher.wait_for()

        broadcast = await bot.broadcast("Lịch tuyển sinh đợt 2 đã có.")
        await bot.broadcast_done(broadcast)
        counted = page.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh (1 tin mới)")
        await counted.wait_for()
        assert await page.locator("[data-chonnghe] >> [data-part=unread]").inner_text() == "1"
        assert bot.web.read[visitor] == last[-1].id  # the closed panel did not mark it read
        await browser_pages.snap(page, "widget-unread")

        again = await browser_pages.new(context=context)  # the next page of the school's site
        await again.goto(host_origin + "/")
        counted = again.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh (1 tin mới)")
        await counted.wait_for()
        await counted.click()
        chat = again.frame_locator("iframe[title='Tư vấn tuyển sinh']")
        await chat.locator(BOT).filter(has_text="Lịch tuyển sinh đợt 2").wait_for()
        assert not await again.locator("[data-chonnghe] >> [data-part=unread]").is_visible()
        await eventually(lambda: bot.web.read.get(visitor, 0) > last[-1].id, what="the broadcast read")
        assert browser_pages.foreign(again, host_origin, bot_origin) == []
        assert browser_pages.page_errors(page) == browser_pages.page_errors(again) == []

        third = await browser_pages.new(context=context)
        await third.goto(host_origin + "/")
        # The helper page reports (0) and is removed; the launcher stays without a count.
        await third.wait_for_function("() => { const r = document.querySelector('[data-chonnghe]');"
                                      " return r && !r.shadowRoot.querySelector('iframe'); }")
        assert not await third.locator("[data-chonnghe] >> [data-part=unread]").is_visible()
        await third.get_by_role("button", name="Mở trò chuyện: Tư vấn tuyển sinh", exact=True).wait_for()
    finally:
        await app_module.stop(bot.app)
