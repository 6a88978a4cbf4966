"""The console's HTTP plumbing: the sub-application, its session cookie, CSRF check, role rules,
security headers and template rendering. Pages live in bot/console/pages.py.

Session: a signed cookie (HMAC-SHA256 with a secret kept in the database) holding the account id, the
account's version (a password change or disable ends older sessions), the time of the last request
(idle for CHONNGHE_CONSOLE_IDLE: signed out) and the session's CSRF token. HttpOnly, SameSite=Lax,
Secure when CHONNGHE_PUBLIC_URL is https, path /console.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jinja2
from aiohttp import web

from bot.console.accounts import ROLE_VI, StaffService

if TYPE_CHECKING:
    from bot.app import App
    from bot.storage.models import StaffAccount

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
PREFIX = "/console"
COOKIE = "chonnghe_console"
LOGIN_COOKIE = "chonnghe_console_login"  # the sign-in form's CSRF token (double submit: no session yet)
SECRET_KEY = "console_cookie_secret"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC = {f"{PREFIX}/login", f"{PREFIX}/static"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")

APP = web.AppKey("chonnghe_app", object)
CONSOLE = web.AppKey("chonnghe_console", object)
ACCOUNT = web.RequestKey("console_account", object)  # the signed-in StaffAccount, or None
CSRF = web.RequestKey("console_csrf", str)  # the session's CSRF token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    """What the pages use: the running App's services, the staff service, templates, the cookie secret."""

    def __init__(self, app: App):
        self.app = app
        self.staff = StaffService(app.store, app.clock)
        self.secure = bool(app.settings.public_url and app.settings.public_url.startswith("https://"))
        self.idle = app.settings.console_idle
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                                      autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True,
                                      lstrip_blocks=True, undefined=jinja2.StrictUndefined)
        self.env.filters["id_of"] = id
        self.content_lock = asyncio.Lock()  # attaching questions: one read-modify-write of content at a time
        self._secret: bytes | None = None

    async def secret(self) -> bytes:
        """Return the cookie-signing secret, created and stored on first use."""
        if self._secret is None:
            stored = await self.app.store.kv.setdefault(SECRET_KEY, secrets.token_urlsafe(32))
            self._secret = stored.encode()
        return self._secret

    # --- the session cookie ------------------------------------------------------------------------

    async def sign(self, payload: dict[str, Any]) -> str:
        """Return `payload` as base64 JSON followed by its HMAC-SHA256."""
        body = (
            base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        )
        mac = hmac.new(await self.secret(), body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    async def unsign(self, value: str | None) -> dict[str, Any] | None:
        """Return the payload of a signed value, or None if it is missing or its signature is wrong."""
        if not value or "." not in value:
            return None
        body, _, mac = value.rpartition(".")
        good = hmac.new(await self.secret(), body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, good):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except (ValueError, UnicodeDecodeError):
            return None
        return data if isinstance(data, dict) else None

    async def set_session(
        self, response: web.StreamResponse, account: StaffAccount, csrf: str | None = None
    ) -> str:
        """Set the signed session cookie for `account` on `response`; return its CSRF token."""
        csrf = csrf or secrets.token_urlsafe(24)
        now = self.app.clock.now().timestamp()
        value = await self.sign({"a": account.id, "v": account.version, "t": int(now), "c": csrf})
        response.set_cookie(COOKIE, value, path=PREFIX, httponly=True, samesite="Lax", secure=self.secure)
        return csrf

    def clear_session(self, response: web.StreamResponse) -> None:
        """Delete the session cookie on `response`."""
        response.del_cookie(COOKIE, path=PREFIX)

    # --- rendering ---------------------------------------------------------------------------------

    def render(self, request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
        """Render a console template with the account, navigation and CSRF token as an HTML response."""
        account = request.get(ACCOUNT)
        context.setdefault("title", "")
        html = self.env.get_template(template).render(
            account=account, role_vi=ROLE_VI, csrf=request.get(CSRF, ""), nav=nav_for(account),
            path=request.path, notice=NOTICES.get(request.query.get("ok", ""), ""), **context)
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def fragment(self, request: web.Request, template: str, **context: Any) -> web.Response:
        """Render a template fragment (a part of a page, fetched by htmx)."""
        return self.render(request, template, **context)

    async def audit(self, request: web.Request, action: str, detail: str = "") -> None:
        """Record a console action of the signed-in account in the audit log."""
        account = request.get(ACCOUNT)
        await self.app.store.console_audit.record(account.name if account else "?", action, detail,
                                                  client_address(request))


# Pages each role may open (server-side; the navigation only shows what is allowed).
NAV = (
    ("overview", "/", "Tổng quan", ("admin", "editor", "counsellor")),
    ("broadcasts", "/broadcasts", "Tin gửi", ("admin", "editor")),
    ("calendar", "/calendar", "Lịch chiến dịch", ("admin", "editor")),
    ("cases", "/cases", "Tư vấn", ("admin", "counsellor")),
    ("gaps", "/gaps", "Câu hỏi chưa trả lời", ("admin", "editor")),
    ("content", "/content", "Nội dung", ("admin", "editor")),
    ("report", "/report", "Báo cáo", ("admin", "editor")),
    ("accounts", "/accounts", "Tài khoản", ("admin",)),
)
ROLES_OF = {key: roles for key, _path, _label, roles in NAV}

NOTICES = {
    "created": "Đã tạo tin gửi.",
    "approved": "Đã duyệt: tin đã được lên lịch.",
    "edited": "Đã lưu thay đổi.",
    "cancelled": "Đã hủy tin.",
    "synced": "Đã tạo các bản nháp còn thiếu.",
    "claimed": "Bạn đã nhận yêu cầu này.",
    "replied": "Đã gửi câu trả lời tới người hỏi.",
    "closed": "Đã đóng yêu cầu.",
    "ignored": "Đã bỏ qua câu hỏi.",
    "password": "Đã đổi mật khẩu.",
    "account": "Đã tạo tài khoản.",
    "disabled": "Đã khóa tài khoản.",
    "unclaimed": "Đã trả lại yêu cầu.",
    "new": "Đã ghi nhận: cần soạn mục nội dung mới cho câu hỏi này.",
}


def nav_for(account: StaffAccount | None) -> list[tuple[str, str, str]]:
    """Return the navigation items (key, path, label) the account's role may see."""
    if account is None:
        return []
    return [(key, PREFIX + path, label) for key, path, label, roles in NAV if account.role in roles]


def allow(*roles: str) -> Callable[[Handler], Handler]:
    """Mark a page handler with the roles that may use it (checked by the middleware: 403 otherwise)."""
    def mark(handler: Handler) -> Handler:
        handler.roles = roles  # type: ignore[attr-defined]
        return handler
    return mark


def client_address(request: web.Request) -> str:
    """Return the client's address (from X-Forwarded-For if trusted), cut to 64 characters."""
    if request.app[CONSOLE].app.settings.web_trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()[:64]
    return (request.remote or "")[:64]


def go(path: str, ok: str | None = None) -> web.HTTPSeeOther:
    """A redirect after a form post (303), with a notice to show."""
    target = PREFIX + path
    if ok:
        target += ("&" if "?" in target else "?") + f"ok={ok}"
    return web.HTTPSeeOther(target)


# --- middlewares ---------------------------------------------------------------------------------


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every console response, errors included; pages are never cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _secure(request, response)
        raise
    _secure(request, response)
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if not request.path.startswith(f"{PREFIX}/static/"):
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who is signed in (request[ACCOUNT]), the CSRF check, the sign-in and role rules."""
    console: Console = request.app[CONSOLE]
    data = await console.unsign(request.cookies.get(COOKIE))
    account = None
    expired = False
    if data is not None:
        now = console.app.clock.now().timestamp()
        if now - float(data.get("t", 0)) > console.idle.total_seconds():
            expired = True
        else:
            row = await console.app.store.staff.get(int(data.get("a", 0)))
            if row is not None and not row.disabled and row.version == data.get("v"):
                account = row
    request[ACCOUNT] = account
    request[CSRF] = data.get("c", "") if account is not None and data else ""
    public = any(request.path == p or request.path.startswith(p + "/") for p in PUBLIC)

    if request.method in UNSAFE:
        if not await _csrf_ok(request, public):
            log.warning("console: %s %s refused: no valid CSRF token", request.method, request.path)
            raise web.HTTPForbidden(
                text="403: thiếu hoặc sai mã chống giả mạo (CSRF). Hãy tải lại trang và thử lại."
            )
    if not public:
        if account is None:
            if request.headers.get("HX-Request"):
                raise web.HTTPUnauthorized(headers={"HX-Redirect": f"{PREFIX}/login"})
            target = f"{PREFIX}/login" + ("?expired=1" if expired else "")
            if request.method == "GET" and request.path not in (PREFIX, PREFIX + "/"):
                target += ("&" if "?" in target else "?") + "next=" + quote(request.path_qs, safe="")
            raise web.HTTPSeeOther(target)
        if account.must_change and request.path not in (f"{PREFIX}/password", f"{PREFIX}/logout"):
            raise web.HTTPSeeOther(f"{PREFIX}/password")
        roles = getattr(handler, "roles", None)
        if roles is not None and account.role not in roles:
            await console.audit(request, "forbidden", f"{request.method} {request.path}")
            return console.render(request, "forbidden.html", status=403, title="Không có quyền")
    response = await handler(request)
    if account is not None and not public and not request.headers.get("X-Console-Poll") \
            and not response.headers.get("X-Session-Set"):
        await console.set_session(response, account, request[CSRF])  # inactivity counts from now
    return response


async def _csrf_ok(request: web.Request, public: bool) -> bool:
    if public:
        expected = request.cookies.get(LOGIN_COOKIE, "")
    else:
        expected = request[CSRF]
    if not expected:
        return False
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = str((await request.post()).get(CSRF_FIELD, ""))
    return bool(given) and hmac.compare_digest(given, expected)


def create(app: App) -> web.Application:
    """The console sub-application over the running App's services."""
    from bot.console import pages

    sub = web.Application(middlewares=[headers_middleware, session_middleware], client_max_size=1024 * 1024)
    sub[APP] = app
    sub[CONSOLE] = Console(app)
    pages.add_routes(sub)
    sub.router.add_static("/static", HERE / "static", append_version=True)
    return sub


def mount(http: web.Application, app: App) -> None:
    """Serve the console under /console on the service's HTTP server."""
    async def to_console(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(PREFIX + "/")

    http.router.add_get(PREFIX, to_console)
    http.add_subapp(PREFIX, create(app))
