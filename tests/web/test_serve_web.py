"""Black-box: `chonnghe serve` as a subprocess with only the defaults (plus a temporary database and port),
driven by Chromium: what "make run, then open http://127.0.0.1:8080/" gives a newcomer."""

from __future__ import annotations

from tests.test_serve_telegram import Serve, healthz, serve_env
from tests.web.chat import BOT, USER, ask, open_chat, press


async def test_serve_with_the_defaults_serves_the_chat_page(tmp_path, browser_pages):
    env = serve_env(tmp_path)  # nothing configured: no token, no CHONNGHE_WEB_*
    async with Serve(env) as serve:  # the shipped content from the default folder
        port = await serve.port()
        assert (await healthz(port))["channels"]["web"] == "on"
        url = f"http://127.0.0.1:{port}"
        page = await browser_pages.new(phone=True)
        response = await page.goto(url + "/")
        assert response is not None and response.status == 200
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        await open_chat(page, url + "/", greeting=True)

        answer = await ask(page, "hoc nghe han o dau")
        assert "Nghề Hàn" in await answer.inner_text()

        reply = await press(page, answer, "Hữu ích 👍")
        assert "Cảm ơn" in await reply.inner_text()

        attack = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"
        await ask(page, attack)
        assert await page.locator(USER).last.inner_text() == attack
        assert await page.get_by_role("log").locator("img, script").count() == 0
        assert await page.evaluate("window.__pwned") is None

        count = await page.locator("[role=log] [data-from]").count()
        await page.reload()
        await page.wait_for_function("(n) => document.querySelectorAll('[role=log] [data-from]').length >= n",
                                     arg=count)
        assert "Nghề Hàn" in await page.locator(BOT).filter(has_text="Nghề Hàn").first.inner_text()
        await browser_pages.snap(page, "serve-defaults")

        assert browser_pages.foreign(page, url) == []  # nothing from another origin
        assert browser_pages.page_errors(page) == []
        assert await serve.terminate() == 0
    assert any("stopped cleanly" in line for line in serve.log)
