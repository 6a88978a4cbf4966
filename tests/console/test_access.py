"""The console's access rules over real HTTP: sign-in, sessions and their idle expiry, CSRF, lockout and
the slowed address, roles checked on the server, one-time passwords, security headers, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from tests.conftest import BACKENDS
from tests.console.conftest import PASSWORD

PAGES = ["/console/", "/console/broadcasts", "/console/broadcasts/new", "/console/calendar", "/console/cases",
         "/console/gaps", "/console/content", "/console/report", "/console/report.csv", "/console/accounts"]
ALLOWED = {
    "admin": set(PAGES),
    "editor": set(PAGES) - {"/console/cases", "/console/accounts"},
    "counsellor": {"/console/", "/console/cases"},
}


async def test_logged_out_every_page_redirects_to_the_sign_in_page(console_bot, client):
    for path in PAGES:
        status, text, r = await client.get(path, allow_redirects=False)
        assert status == 303, path
        assert r.headers["Location"].startswith("/console/login"), path
    status, text, _ = await client.get("/console/broadcasts")
    assert status == 200 and "Đăng nhập" in text


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
@pytest.mark.parametrize("role", ["admin", "editor", "counsellor"])
async def test_every_page_loads_for_each_role_and_the_others_answer_403(console_bot, client, role):
    await console_bot.account(f"x-{role}", role)
    status, text, _ = await client.login(f"x-{role}")
    assert status == 200 and "Tổng quan" in text
    for path in PAGES:
        status, text, _ = await client.get(path, allow_redirects=False)
        if path in ALLOWED[role]:
            assert status == 200, (role, path, text[:300])
        else:
            assert status == 403, (role, path)
            assert "Không có quyền" in text
    # the navigation shows exactly the allowed pages
    _, home, _ = await client.get("/console/")
    assert ('href="/console/accounts"' in home) == (role == "admin")
    assert ('href="/console/cases"' in home) == (role in ("admin", "counsellor"))


async def test_a_counsellor_cannot_create_a_broadcast(console_bot, client):
    await console_bot.account("tu-van", "counsellor")
    await client.login("tu-van")
    status, _, _ = await client.post("/console/broadcasts", {"text": "Xin chào", "topic": "tuyen_sinh",
                                                             "when": "now"})
    assert status == 403
    assert [
        b for b in await console_bot.app.services.broadcasts.bstore.list() if b.created_by != "calendar"
    ] == []


async def test_a_post_without_its_csrf_token_is_refused(console_bot, client):
    await console_bot.account("ops-admin", "admin")
    await client.login("ops-admin")
    status, _, _ = await client.post("/console/calendar/sync", csrf=False)
    assert status == 403
    status, _, _ = await client.post("/console/calendar/sync", [("_csrf", "forged")], csrf=False)
    assert status == 403
    status, text, _ = await client.post("/console/calendar/sync")
    assert status == 200 and "Đã tạo các bản nháp còn thiếu" in text
    # the sign-in form has its own token too
    other = console_bot.client()
    try:
        status, _, _ = await other.post(
            "/console/login", {"name": "ops-admin", "password": PASSWORD}, csrf=False
        )
        assert status == 403
    finally:
        await other.close()


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_wrong_passwords_lock_the_account_for_15_minutes_and_are_audited(console_bot, client):
    await console_bot.account("ops-admin", "admin")
    for _ in range(5):
        status, text, _ = await client.login("ops-admin", "sai mật khẩu rồi")
        assert status == 401 and "không đúng" in text
    status, text, _ = await client.login("ops-admin")  # the right one, at once: still locked
    assert status == 401 and "tạm khóa" in text
    row = await console_bot.app.store.staff.by_name("ops-admin")
    assert row.locked_until is not None
    actions = [r.action for r in await console_bot.app.store.console_audit.recent(actor="ops-admin")]
    assert actions.count("login_failed") == 5 and "locked" in actions and "login_locked" in actions
    assert "login" not in actions


@pytest.mark.parametrize("console_bot", [{"clock": FakeClock(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))}],
                         indirect=True)
async def test_the_lock_ends_after_15_minutes_and_a_session_after_30_idle(console_bot, client):
    clock = console_bot.app.clock
    await console_bot.account("ops-admin", "admin")
    for _ in range(7):
        await client.login("ops-admin", "sai mật khẩu rồi")
    status, _, _ = await client.login("ops-admin")
    assert status == 401
    clock.advance(minutes=16)
    status, text, _ = await client.login("ops-admin")
    assert status == 200 and "Tổng quan" in text
    clock.advance(minutes=29)
    status, _, _ = await client.get("/console/broadcasts", allow_redirects=False)
    assert status == 200  # activity: the idle time starts again
    clock.advance(minutes=29)
    assert (await client.get("/console/report", allow_redirects=False))[0] == 200
    clock.advance(minutes=31)
    status, _, r = await client.get("/console/report", allow_redirects=False)
    assert status == 303 and r.headers["Location"].startswith("/console/login?expired=1")


@pytest.mark.parametrize("console_bot", [{"clock": FakeClock(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))}],
                         indirect=True)
async def test_an_address_trying_many_accounts_is_slowed(console_bot, client):
    clock = console_bot.app.clock
    await console_bot.account("real-one", "editor")
    for n in range(10):  # ten different names, two tries each would never lock any of them
        status, _, _ = await client.login(f"guess-{n}", "x" * 12)
        assert status == 401
    status, text, _ = await client.login("real-one")
    assert status == 429 and "quá nhiều lần" in text
    clock.advance(seconds=2)
    status, _, _ = await client.login("real-one")
    assert status == 200


async def test_a_one_time_password_must_be_changed_at_first_sign_in(console_bot, client):
    once = await console_bot.account("bien-tap", "editor", password=None)
    assert once
    status, text, r = await client.login("bien-tap", once)
    assert status == 200 and "mật khẩu một lần" in text and str(r.url).endswith("/console/password")
    status, _, r = await client.get("/console/broadcasts", allow_redirects=False)
    assert status == 303 and r.headers["Location"] == "/console/password"
    status, text, _ = await client.post(
        "/console/password", {"current": once, "new": "ngắn", "again": "ngắn"}
    )
    assert status == 400 and "ít nhất 10" in text
    new = "mật khẩu mới của tôi"
    status, text, _ = await client.post("/console/password", {"current": once, "new": new, "again": new})
    assert status == 200 and "Đã đổi mật khẩu" in text
    assert (await client.get("/console/broadcasts", allow_redirects=False))[0] == 200
    other = console_bot.client()
    try:
        assert (await other.login("bien-tap", once))[0] == 401
        assert "Tổng quan" in (await other.login("bien-tap", new))[1]
    finally:
        await other.close()


async def test_logout_and_disable_end_the_session(console_bot, client):
    await console_bot.account("ops-admin", "admin")
    await console_bot.account("bien-tap", "editor")
    await client.login("ops-admin")
    status, text, _ = await client.post("/console/logout")
    assert status == 200 and "Đăng nhập" in text
    assert (await client.get("/console/", allow_redirects=False))[0] == 303

    editor = console_bot.client()
    try:
        await editor.login("bien-tap")
        assert (await editor.get("/console/broadcasts", allow_redirects=False))[0] == 200
        await client.login("ops-admin")
        status, _, _ = await client.post("/console/accounts/disable", {"name": "bien-tap"})
        assert status == 200
        assert (await editor.get("/console/broadcasts", allow_redirects=False))[0] == 303
        assert (await editor.login("bien-tap"))[0] == 401
    finally:
        await editor.close()


async def test_cookie_flags_and_security_headers(console_bot, client):
    await console_bot.account("ops-admin", "admin")
    await client.get("/console/login")
    async with client.session.post(
        client.base + "/console/login",
        allow_redirects=False,
        data={"name": "ops-admin", "password": PASSWORD, "_csrf": client.csrf},
    ) as r:
        cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("chonnghe_console="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # CHONNGHE_PUBLIC_URL is not https here
    _, _, r = await client.get("/console/")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Cache-Control"] == "no-store"
    status, js, r = await client.get("/console/static/htmx.min.js")
    assert (
        status == 200
        and js.startswith("/*! htmx 2.0.11")
        and "no-store" not in r.headers.get("Cache-Control", "")
    )


@pytest.mark.parametrize("console_bot", [{"public_url": "https://bot.example"}], indirect=True)
async def test_the_cookie_is_secure_behind_https(console_bot, client):
    await console_bot.account("ops-admin", "admin")
    _, _, r = await client.get("/console/login")
    login_cookie = r.headers["Set-Cookie"]
    assert "Secure" in login_cookie  # so over plain http here the client keeps it to itself: send it by hand
    token = login_cookie.split(";")[0].split("=", 1)[1]
    async with client.session.post(
        client.base + "/console/login",
        allow_redirects=False,
        headers={"Cookie": f"chonnghe_console_login={token}"},
        data={"name": "ops-admin", "password": PASSWORD, "_csrf": client.csrf},
    ) as r:
        cookie = next(v for v in r.headers.getall("Set-Cookie") if v.startswith("chonnghe_console="))
    assert "Secure" in cookie


async def test_admins_read_the_audit_log_of_staff_actions(console_bot, client):
    await console_bot.account("ops-admin", "admin")
    await client.login("ops-admin", "sai mật khẩu rồi")
    await client.login("ops-admin")
    await client.post("/console/calendar/sync")
    status, text, _ = await client.post("/console/accounts/add", {"name": "co-van", "role": "counsellor"})
    assert status == 200 and "Mật khẩu một lần của <b>co-van</b>" in text
    _, page, _ = await client.get("/console/accounts")
    for action in ("login_failed", "login", "calendar_sync", "account_add"):
        assert f"<td>{action}</td>" in page, action
    assert "co-van" in page
