"""Black-box, in Chromium, through `chonnghe serve` with the defaults: an account made with
`chonnghe staff add ops-admin --role admin --password-stdin` signs in at /console; every console page
reachable by links loads without a server error; signed out, none of them is served; a form post without
its CSRF token is refused; after 7 wrong passwords the right one does not sign in at once."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit

from tests.test_serve_telegram import ROOT, Serve, serve_env

PASSWORD = "một mật khẩu đủ dài"


async def staff_add(env: dict[str, str], *args: str, stdin: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "staff", *args, cwd=ROOT, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode, out.decode(), err.decode()


async def sign_in(page, base: str, name: str, password: str):
    await page.goto(base + "/console/login")
    await page.get_by_label("Tên đăng nhập").fill(name)
    await page.get_by_label("Mật khẩu").fill(password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Đăng nhập").click()


async def test_serve_console_black_box(tmp_path, browser_pages):
    env = serve_env(tmp_path)
    code, _out, err = await staff_add(env, "add", "ops-admin", "--role", "admin", "--password-stdin",
                                      stdin=PASSWORD + "\n")
    assert code == 0, err
    async with Serve(env) as serve:
        port = await serve.port()
        base = f"http://127.0.0.1:{port}"
        page = await browser_pages.new()
        response = await page.goto(base + "/console")
        assert response.status == 200 and urlsplit(page.url).path == "/console/login"
        await sign_in(page, base, "ops-admin", PASSWORD)
        assert urlsplit(page.url).path == "/console/"
        assert await page.get_by_role("heading", name="Tổng quan").count() == 1

        # every page reachable by links, breadth first, loads without a server error
        seen: dict[str, int] = {}
        queue = ["/console/"]
        while queue and len(seen) < 80:
            path = queue.pop(0)
            if path in seen:
                continue
            if path.split("?")[0].endswith(".csv"):  # a download: fetched with the page's cookies
                download = await page.request.get(base + path)
                seen[path] = download.status
                assert download.status == 200 and "text/csv" in download.headers["content-type"], path
                continue
            response = await page.goto(base + path)
            seen[path] = response.status
            assert response.status < 500, (path, response.status)
            for href in await page.eval_on_selector_all(
                "a[href]", "els => els.map(e => e.getAttribute('href'))"
            ):
                parts = urlsplit(href)
                if parts.netloc or not parts.path.startswith("/console/"):
                    continue
                target = parts.path + (f"?{parts.query}" if parts.query else "")
                if target not in seen and target not in queue:
                    queue.append(target)
        for expected in (
            "/console/broadcasts",
            "/console/broadcasts/new",
            "/console/calendar",
            "/console/cases",
            "/console/gaps",
            "/console/content",
            "/console/report",
            "/console/accounts",
            "/console/report.csv",
        ):
            assert any(p.split("?")[0] == expected for p in seen), expected
        assert browser_pages.page_errors(page) == []  # no script error, no CSP violation

        # a form post without its CSRF token: refused
        refused = await page.request.post(base + "/console/calendar/sync", form={"x": "1"})
        assert 400 <= refused.status < 500
        forged = await page.request.post(base + "/console/calendar/sync", form={"_csrf": "forged"})
        assert 400 <= forged.status < 500

        # signed out, none of those pages is served
        async with page.expect_navigation():
            await page.get_by_role("button", name="Đăng xuất").click()
        for path in seen:
            response = await page.request.get(base + path, max_redirects=0)
            assert response.status in (302, 303, 401, 403), (path, response.status)
            if response.status in (302, 303):
                assert response.headers["location"].startswith("/console/login"), path

        # 7 wrong passwords, then the right one does not sign in at once
        other = await browser_pages.new()
        for _ in range(7):
            await sign_in(other, base, "ops-admin", "sai mật khẩu")
            assert urlsplit(other.url).path == "/console/login"
        await sign_in(other, base, "ops-admin", PASSWORD)
        assert urlsplit(other.url).path == "/console/login"
        assert await other.get_by_text("tạm khóa").count() == 1
        await browser_pages.snap(other, "console-locked")
        assert await serve.terminate() == 0
