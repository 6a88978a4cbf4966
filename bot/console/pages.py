"""The console's pages: sign-in, Tổng quan, Tin gửi, Lịch chiến dịch, Tư vấn, Câu hỏi chưa trả lời, Nội dung,
Báo cáo, Tài khoản. Each handler calls the same services as the CLI and the Telegram staff commands."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.console.accounts import ROLES, AccountError
from bot.console.attach import AttachError, add_other, attach
from bot.console.charts import MONTHS, bars, progress
from bot.console.web import ACCOUNT, CONSOLE, CSRF, LOGIN_COOKIE, PREFIX, Console, allow, client_address, go
from bot.content import ContentError
from bot.content.texts import ROLES as ROLES_AUDIENCE  # the roles people pick at /batdau
from scheduler.broadcasts import CHANNEL_LABELS, MAX_TEXT, STATUS_VI, BroadcastError
from scheduler.dispatcher import FOOTER
from scheduler.store import BROADCAST_CHANNELS, FINISHED, loads

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

EVERYONE = ("admin", "editor", "counsellor")
EDITORS = ("admin", "editor")
COUNSELLORS = ("admin", "counsellor")
# What each channel shows at most in one message (Telegram counts UTF-16 units; near enough for a check).
CHANNEL_LIMITS = {"telegram": 4096, "zalo_oa": 2000, "zalo_bot": 2000, "web": 4000}
CHANNEL_NOTES = {
    "telegram": "Telegram: tối đa 4.096 ký tự một tin; liên kết bấm được.",
    "zalo_oa": "Zalo OA: tối đa 2.000 ký tự một tin; tin quảng bá bị giới hạn số tin mỗi ngày, mỗi tháng.",
    "zalo_bot": "Zalo Bot: tối đa 2.000 ký tự; tin dài hơn được chia thành nhiều tin.",
    "web": "Web: tin vào hộp thư của khách; ai đang mở trang nhận ngay.",
}
STALE_REVIEW = timedelta(days=365)


def _c(request: web.Request) -> Console:
    return request.app[CONSOLE]


def _app(request: web.Request) -> App:
    return _c(request).app


def _by(request: web.Request) -> str:
    return f"console:{request[ACCOUNT].name}"


async def _form(request: web.Request) -> dict[str, Any]:
    data = await request.post()
    return {k: data.getall(k) if len(data.getall(k)) > 1 else data.get(k) for k in data}


def _list(form: Any, key: str) -> list[str]:
    value = form.getall(key, []) if hasattr(form, "getall") else form.get(key, [])
    return [v for v in ([value] if isinstance(value, str) else value) if v]


# --- sign-in ---------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    """Serve the sign-in form (public)."""
    return _login_form(request, "")


def _login_form(request: web.Request, error: str, status: int = 200, name: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    expired = request.query.get("expired") == "1"
    response = _c(request).render(request, "login.html", status=status, title="Đăng nhập", error=error,
                                  login_csrf=token, name=name, expired=expired,
                                  next=request.query.get("next", ""))
    response.set_cookie(LOGIN_COOKIE, token, path=PREFIX, httponly=True, samesite="Strict",
                        secure=_c(request).secure)
    return response


WAIT_VI = "Vui lòng thử lại sau {m} phút."


async def login_post(request: web.Request) -> web.StreamResponse:
    """Check a sign-in (public): set the session cookie, or show the form again with the error."""
    console = _c(request)
    form = await request.post()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    result = await console.staff.sign_in(name, password, client_address(request))
    if result.account is None:
        minutes = max(1, int((result.wait or timedelta()).total_seconds() // 60) + 1)
        message = {
            "locked": "Tài khoản tạm khóa do nhập sai mật khẩu nhiều lần. " + WAIT_VI.format(m=minutes),
            "slowed": "Có quá nhiều lần đăng nhập sai từ địa chỉ này. " + WAIT_VI.format(m=minutes),
            "disabled": "Tài khoản này đã bị khóa. Hãy liên hệ quản trị viên.",
        }.get(result.reason, "Tên đăng nhập hoặc mật khẩu không đúng.")
        status = 429 if result.reason == "slowed" else 401
        return _login_form(request, message, status=status, name=name)
    target = str(form.get("next", ""))
    if not target.startswith(PREFIX + "/") or urlsplit(target).netloc or target.startswith("//"):
        target = PREFIX + "/"
    if result.account.must_change:
        target = PREFIX + "/password"
    response = web.HTTPSeeOther(target)
    request[CSRF] = await console.set_session(response, result.account)
    response.headers["X-Session-Set"] = "1"
    response.del_cookie(LOGIN_COOKIE, path=PREFIX)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """Sign the current account out and send it to the sign-in page (any signed-in account)."""
    console = _c(request)
    await console.audit(request, "logout")
    response = web.HTTPSeeOther(PREFIX + "/login")
    console.clear_session(response)
    response.headers["X-Session-Set"] = "1"
    raise response


async def password_page(request: web.Request) -> web.Response:
    """Serve the change-password form (any signed-in account)."""
    return _c(request).render(request, "password.html", title="Đổi mật khẩu", error="")


async def password_post(request: web.Request) -> web.StreamResponse:
    """Change the signed-in account's own password (any signed-in account)."""
    console = _c(request)
    form = await request.post()
    account = request[ACCOUNT]
    new, again = str(form.get("new", "")), str(form.get("again", ""))
    try:
        if new != again:
            raise AccountError("Hai lần nhập mật khẩu mới không khớp.", "mismatch")
        await console.staff.change_own(account, str(form.get("current", "")), new)
    except AccountError as exc:
        return console.render(request, "password.html", status=400, title="Đổi mật khẩu", error=exc.vi)
    fresh = await console.app.store.staff.get(account.id)
    response = go("/", "password")
    await console.set_session(response, fresh, request[CSRF])
    response.headers["X-Session-Set"] = "1"
    raise response


# --- Tổng quan -------------------------------------------------------------------------------------


@allow(*EVERYONE)
async def overview(request: web.Request) -> web.Response:
    """Serve the overview page with today's and this month's figures (every role)."""
    app = _app(request)
    zone = app.settings.zone
    local = app.clock.now().astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    today, this_month = await app.store.stats.since(day), await app.store.stats.since(month)
    new_today, new_month = await app.store.stats.new_users(day), await app.store.stats.new_users(month)
    upcoming = await app.services.broadcasts.upcoming(limit=10) if app.services.broadcasts else []
    return _c(request).render(
        request, "overview.html", title="Tổng quan", today=today, month=this_month, new_today=new_today,
        new_month=new_month, open_cases=await app.store.cases.count_open(), channels=app.channel_status,
        upcoming=upcoming, local=app.services.broadcasts.local, status_vi=STATUS_VI, topics=_topics(app),
        loads=loads, entries=len(app.content.base.entries), roles_vi=ROLES_AUDIENCE)


def _topics(app: App) -> dict[str, str]:
    return {t.id: t.label for t in app.content.base.topics.values()}


# --- Tin gửi ---------------------------------------------------------------------------------------


@allow(*EDITORS)
async def broadcasts_list(request: web.Request) -> web.Response:
    """Serve the list of broadcasts with their delivery counts (admin, editor)."""
    app = _app(request)
    b = app.services.broadcasts
    rows = await b.bstore.list(limit=200)
    counts = {row.id: await b.bstore.counts(row.id) for row in rows[:50]}
    return _c(request).render(request, "broadcasts.html", title="Tin gửi", rows=rows, counts=counts,
                              local=b.local, status_vi=STATUS_VI, loads=loads, topics=_topics(app))


def _composer_context(app: App, values: dict[str, Any], error: str = "", row: Any = None) -> dict[str, Any]:
    b = app.services.broadcasts
    return {
        "topics": _topics(app),
        "channels": {c: CHANNEL_LABELS[c] for c in BROADCAST_CHANNELS},
        "roles": ROLES_AUDIENCE,
        "values": values,
        "error": error,
        "quiet": str(b.quiet) if b.quiet else "",
        "zone": b.zone.key,
        "max_text": MAX_TEXT,
        "row": row,
        "now_local": app.clock.now().astimezone(b.zone).strftime("%Y-%m-%d %H:%M"),
    }


def _values(form: Any) -> dict[str, Any]:
    return {"title": str(form.get("title", "") or ""), "text": str(form.get("text", "") or ""),
            "topics": _list(form, "topic"), "roles": _list(form, "role"), "channels": _list(form, "channel"),
            "when": str(form.get("when", "now") or "now"), "at": str(form.get("at", "") or ""),
            "promotion": bool(form.get("promotion")), "move": bool(form.get("move"))}


@allow(*EDITORS)
async def composer(request: web.Request) -> web.Response:
    """Serve an empty broadcast composer (admin, editor)."""
    values = {"title": "", "text": "", "topics": [], "roles": [], "channels": [], "when": "now", "at": "",
              "promotion": False, "move": False}
    return _c(request).render(request, "composer.html", title="Soạn tin gửi",
                              **_composer_context(_app(request), values))


@allow(*EDITORS)
async def preview(request: web.Request) -> web.Response:
    """htmx: the text as each channel will show it, with its length checked."""
    form = await request.post()
    text = str(form.get("text", "") or "").strip()
    received = text + FOOTER if text else ""
    cards = []
    for channel in _list(form, "channel") or list(BROADCAST_CHANNELS):
        if channel not in CHANNEL_LIMITS:
            continue
        limit = CHANNEL_LIMITS[channel]
        cards.append({"channel": channel, "label": CHANNEL_LABELS[channel], "text": received,
                      "length": len(received), "limit": limit, "note": CHANNEL_NOTES[channel],
                      "over": len(received) > limit,
                      "pieces": -(-len(received) // limit) if received else 0})
    return _c(request).fragment(request, "_preview.html", cards=cards, too_long=len(text) > MAX_TEXT,
                                length=len(text), max_text=MAX_TEXT)


@allow(*EDITORS)
async def audience(request: web.Request) -> web.Response:
    """htmx: the live number of recipients per channel and Zalo's promotion-limit warnings."""
    app = _app(request)
    b = app.services.broadcasts
    form = await request.post()
    v = _values(form)
    plan, error, when_note = None, "", ""
    try:
        at = None if v["when"] == "now" else b.parse_when(v["at"])
        if v["when"] != "now" and at is not None:
            timing = b.check_time(at, move_out_of_quiet=v["move"])
            when_note = (f"Sẽ gửi lúc {b.local(timing.send_at)}"
                         + (f" (dời khỏi giờ yên tĩnh {b.quiet})" if timing.moved_from else ""))
        if v["topics"]:
            plan = await b.plan(b.check_topics(v["topics"]), b.check_roles(v["roles"]),
                                b.check_channels(v["channels"]), promotion=v["promotion"], at=at)
        else:
            error = "Hãy chọn ít nhất một chủ đề."
    except BroadcastError as exc:
        error = exc.vi
    return _c(request).fragment(request, "_audience.html", plan=plan, error=error, labels=CHANNEL_LABELS,
                                when_note=when_note)


@allow(*EDITORS)
async def broadcast_create(request: web.Request) -> web.StreamResponse:
    """Create a broadcast draft from the composer form (admin, editor)."""
    app = _app(request)
    b = app.services.broadcasts
    v = _values(await request.post())
    try:
        at = None if v["when"] == "now" else b.parse_when(v["at"])
        row, _timing = await b.create(v["text"], v["topics"], v["roles"], v["channels"], at,
                                     move_out_of_quiet=v["move"], created_by=_by(request),
                                     title=v["title"] or None, promotion=v["promotion"])
    except BroadcastError as exc:
        return _c(request).render(request, "composer.html", status=400, title="Soạn tin gửi",
                                  **_composer_context(app, v, exc.vi))
    await _c(request).audit(request, "broadcast_create", f"#{row.id} {b.local(row.send_at)}")
    raise go(f"/broadcasts/{row.id}", "created")


async def _broadcast(request: web.Request):
    try:
        return await _app(request).services.broadcasts.get(int(request.match_info["id"]))
    except (ValueError, BroadcastError):
        raise web.HTTPNotFound(text="Không có tin này.") from None


@allow(*EDITORS)
async def broadcast_page(request: web.Request) -> web.Response:
    """Serve one broadcast: its text, audience and delivery progress (admin, editor)."""
    app = _app(request)
    row = await _broadcast(request)
    data = await app.services.broadcasts.show(row.id)
    return _c(request).render(
        request,
        "broadcast.html",
        title=f"Tin #{row.id}",
        row=row,
        data=data,
        progress=await _progress(app, row.id),
        status_vi=STATUS_VI,
        labels=CHANNEL_LABELS,
        topics=_topics(app),
        error=request.query.get("error", ""),
        finished=row.status in FINISHED,
    )


async def _progress(app: App, broadcast_id: int) -> dict[str, Any]:
    """Per channel: sent, pending, failed, blocked, skipped, and the rate over the last minute."""
    import sqlalchemy as sa

    from bot.storage.models import Delivery

    b = app.services.broadcasts
    shown = await b.show(broadcast_id)
    since = app.clock.now() - timedelta(minutes=1)
    async with app.store.session() as s:
        recent = dict((await s.execute(
            sa.select(Delivery.channel, sa.func.count()).where(
                Delivery.broadcast_id == broadcast_id, Delivery.status == "sent", Delivery.sent_at >= since)
            .group_by(Delivery.channel))).all())
    channels = {}
    for channel, counts in shown["channels"].items():
        total = sum(counts.values())
        done = total - counts.get("pending", 0) - counts.get("sending", 0)
        channels[channel] = {**counts, "total": total, "share": round(100 * done / total) if total else 100,
                             "rate": round(recent.get(channel, 0) / 60, 1)}
    return {
        "status": shown["status"],
        "channels": channels,
        "counts": shown["counts"],
        "total": shown["total"],
    }


@allow(*EDITORS)
async def broadcast_progress(request: web.Request) -> web.Response:
    """Serve the progress fragment of one broadcast, polled by its page (admin, editor)."""
    app = _app(request)
    row = await _broadcast(request)
    return _c(request).fragment(request, "_progress.html", row=row, progress=await _progress(app, row.id),
                                status_vi=STATUS_VI, labels=CHANNEL_LABELS, finished=row.status in FINISHED)


async def _lifecycle(request: web.Request, action: str) -> web.StreamResponse:
    app = _app(request)
    b = app.services.broadcasts
    row = await _broadcast(request)
    form = await request.post()
    try:
        if action == "approve":
            at = b.parse_when(str(form.get("at"))) if form.get("at") else None
            await b.approve(row.id, by=_by(request), at=at, move_out_of_quiet=bool(form.get("move")))
        else:
            await b.cancel(row.id)
    except BroadcastError as exc:
        back = str(form.get("back", "")) or f"/broadcasts/{row.id}"
        return _c(request).render(request, "message.html", status=400, title="Không thực hiện được",
                                  message=exc.vi, back=PREFIX + back)
    await _c(request).audit(request, f"broadcast_{action}", f"#{row.id}")
    raise go(
        str(form.get("back", "")) or f"/broadcasts/{row.id}",
        "approved" if action == "approve" else "cancelled",
    )


@allow(*EDITORS)
async def broadcast_approve(request: web.Request) -> web.StreamResponse:
    """Approve a broadcast draft for sending (admin, editor)."""
    return await _lifecycle(request, "approve")


@allow(*EDITORS)
async def broadcast_cancel(request: web.Request) -> web.StreamResponse:
    """Cancel a broadcast that is not finished (admin, editor)."""
    return await _lifecycle(request, "cancel")


@allow(*EDITORS)
async def broadcast_edit_page(request: web.Request) -> web.Response:
    """Serve the composer filled with an existing broadcast draft (admin, editor)."""
    app = _app(request)
    row = await _broadcast(request)
    b = app.services.broadcasts
    values = {
        "title": row.title or "",
        "text": row.text,
        "topics": loads(row.topics),
        "roles": loads(row.roles),
        "channels": loads(row.channels),
        "when": "later",
        "at": row.send_at.astimezone(b.zone).strftime("%Y-%m-%d %H:%M") if row.send_at else "",
        "promotion": row.promotion,
        "move": False,
    }
    return _c(request).render(request, "composer.html", title=f"Sửa tin #{row.id}",
                              **_composer_context(app, values, row=row))


@allow(*EDITORS)
async def broadcast_edit(request: web.Request) -> web.StreamResponse:
    """Save the changes to a broadcast draft (admin, editor)."""
    app = _app(request)
    b = app.services.broadcasts
    row = await _broadcast(request)
    v = _values(await request.post())
    try:
        await b.edit(row.id, text=v["text"], topics=v["topics"], roles=v["roles"], channels=v["channels"],
                     at=b.parse_when(v["at"]) if v["at"] else None, move_out_of_quiet=v["move"],
                     promotion=v["promotion"])
    except BroadcastError as exc:
        return _c(request).render(request, "composer.html", status=400, title=f"Sửa tin #{row.id}",
                                  **_composer_context(app, v, exc.vi, row=row))
    await _c(request).audit(request, "broadcast_edit", f"#{row.id}")
    raise go(f"/broadcasts/{row.id}", "edited")


@allow(*EDITORS)
async def broadcast_export(request: web.Request) -> web.StreamResponse:
    """Stream one broadcast's deliveries as a CSV download (admin, editor)."""
    app = _app(request)
    row = await _broadcast(request)
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="broadcast-{row.id}.csv"'})
    await _c(request).audit(request, "broadcast_export", f"#{row.id}")
    await response.prepare(request)
    async for chunk in app.services.broadcasts.export_rows(row.id):
        out = io.StringIO()
        csv.writer(out).writerows(chunk)
        await response.write(out.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


# --- Lịch chiến dịch -------------------------------------------------------------------------------


@allow(*EDITORS)
async def calendar_page(request: web.Request) -> web.Response:
    """Serve the year's campaign calendar and what became of each message (admin, editor)."""
    from scheduler.calendar import year_plan

    app = _app(request)
    b = app.services.broadcasts
    now = app.clock.now()
    this_year = now.astimezone(b.zone).year
    try:
        year = int(request.query.get("year", this_year))
    except ValueError:
        year = this_year
    plan = await year_plan(b.bstore, app.content.base.campaigns, year, b.zone, now)
    return _c(request).render(request, "calendar.html", title="Lịch chiến dịch", plan=plan, year=year,
                              this_year=this_year, local=b.local, status_vi=STATUS_VI, zone=b.zone.key)


@allow(*EDITORS)
async def calendar_sync(request: web.Request) -> web.StreamResponse:
    """Create the missing drafts of the campaign calendar (admin, editor)."""
    from scheduler.calendar import materialise

    app = _app(request)
    b = app.services.broadcasts
    created = await materialise(b.bstore, app.content.base.campaigns, b.zone)
    await _c(request).audit(request, "calendar_sync", f"{len(created)} draft(s)")
    raise go("/calendar", "synced")


# --- Tư vấn ----------------------------------------------------------------------------------------


@allow(*COUNSELLORS)
async def cases_list(request: web.Request) -> web.Response:
    """Serve the list of open or closed counselling cases (admin, counsellor)."""
    app = _app(request)
    status = request.query.get("status", "open")
    rows = await app.store.cases.listing(status if status in ("open", "closed") else None)
    people = {r.user_id: await app.store.users.by_id(r.user_id) for r in rows if r.user_id}
    return _c(request).render(request, "cases.html", title="Tư vấn", rows=rows, people=people, shown=status,
                              zone=app.settings.zone, staff_chat=app.services.staff_chat)


async def _case(request: web.Request):
    try:
        case = await _app(request).store.cases.get(int(request.match_info["id"]))
    except ValueError:
        case = None
    if case is None:
        raise web.HTTPNotFound(text="Không có yêu cầu này.")
    return case


@allow(*COUNSELLORS)
async def case_page(request: web.Request) -> web.Response:
    """Serve one counselling case with the person and their recent questions (admin, counsellor)."""
    app = _app(request)
    case = await _case(request)
    person = await app.store.users.by_id(case.user_id) if case.user_id else None
    recent = await app.store.questions.recent(case.user_id, limit=10) if case.user_id else []
    return _c(request).render(request, "case.html", title=f"Yêu cầu #{case.id}", case=case, person=person,
                              roles_vi=ROLES_AUDIENCE,
                              recent=recent, zone=app.settings.zone, error=request.query.get("error", ""))


@allow(*COUNSELLORS)
async def case_claim(request: web.Request) -> web.StreamResponse:
    """Claim a counselling case for the signed-in account, or release it (admin, counsellor)."""
    app = _app(request)
    case = await _case(request)
    form = await request.post()
    mine = form.get("release") is None
    await app.store.cases.claim(case.id, request[ACCOUNT].name if mine else None)
    await _c(request).audit(request, "case_claim" if mine else "case_release", f"#{case.id}")
    raise go(f"/cases/{case.id}", "claimed" if mine else "unclaimed")


@allow(*COUNSELLORS)
async def case_reply(request: web.Request) -> web.StreamResponse:
    """Send a counsellor's reply to the person of a case (admin, counsellor)."""
    from bot.content.texts import texts_for
    from handlers.handoff import reply_to_case, tell_staff_chat

    app = _app(request)
    case = await _case(request)
    text = str((await request.post()).get("text", "") or "").strip()
    if not text:
        raise go(f"/cases/{case.id}?error=empty")
    account = request[ACCOUNT]
    if not case.claimed_by:
        await app.store.cases.claim(case.id, account.name)
    if not await reply_to_case(app.services, case.id, text, by=_by(request)):
        await _c(request).audit(request, "case_reply_failed", f"#{case.id}")
        raise go(f"/cases/{case.id}?error=send")
    t = texts_for(app.content.base)
    await tell_staff_chat(app.services, case.id, t("staff_console_replied", case=case.id, who=account.name,
                                                       text=text[:1500]))
    await _c(request).audit(request, "case_reply", f"#{case.id}")
    raise go(f"/cases/{case.id}", "replied")


@allow(*COUNSELLORS)
async def case_close(request: web.Request) -> web.StreamResponse:
    """Close a counselling case and tell the person (admin, counsellor)."""
    from bot.content.texts import texts_for
    from handlers.handoff import close_case, tell_staff_chat

    app = _app(request)
    case = await _case(request)
    if await close_case(app.services, case.id):
        t = texts_for(app.content.base)
        await tell_staff_chat(app.services, case.id, t("staff_console_closed", case=case.id,
                                                           who=request[ACCOUNT].name))
    await _c(request).audit(request, "case_close", f"#{case.id}")
    raise go("/cases", "closed")


# --- Câu hỏi chưa trả lời --------------------------------------------------------------------------


async def _gap_groups(app: App):
    from bot.gaps import group_questions, load_gaps

    resolved = await app.store.gap_resolutions.resolved()
    rows = [r for r in await load_gaps(app.store.engine)
            if not (r.text.strip() in resolved and r.asked_at <= resolved[r.text.strip()])]
    return group_questions(rows, app.content.engine)


@allow(*EDITORS)
async def gaps_page(request: web.Request) -> web.Response:
    """Serve the grouped questions the bot could not answer (admin, editor)."""
    app = _app(request)
    await app.store.flush()
    groups = await _gap_groups(app)
    entries = sorted(app.content.base.entries.values(), key=lambda e: e.id)
    shown = groups[:100]
    context = {id(g): await app.store.questions.around(g.example) for g in shown[:30]}
    return _c(request).render(request, "gaps.html", title="Câu hỏi chưa trả lời", groups=shown,
                              entries=entries, total=sum(g.count for g in groups), context=context,
                              zone=app.settings.zone)


@allow(*EDITORS)
async def gaps_action(request: web.Request) -> web.StreamResponse:
    """Ignore an unanswered question, mark it new, record it as another subject (the bot learns to decline
    it), or attach it to an entry (admin, editor)."""
    app = _app(request)
    console = _c(request)
    form = await request.post()
    question = " ".join(str(form.get("question", "")).split())
    texts = _list(form, "text") or [question]
    action = request.match_info["action"]
    if not question:
        raise go("/gaps")
    if action in ("ignore", "new"):
        await app.store.gap_resolutions.resolve(texts, action, request[ACCOUNT].name)
        await console.audit(request, f"gap_{action}", question[:200])
        raise go("/gaps", "ignored" if action == "ignore" else "new")
    if action == "other":
        return await _write_and_reload(
            request, lambda: add_other(app.content.root, question), texts, action="other",
            what=question[:200], entry_id=None, titles=("Chưa ghi được", "Đã ghi là chủ đề khác"),
            question=question, other=True)
    entry_id = str(form.get("entry", ""))
    entry = app.content.base.entries.get(entry_id)
    if entry is None or not entry.file:
        return console.render(
            request,
            "attached.html",
            status=400,
            title="Chưa gắn được",
            ok=False,
            report=f"Không có mục {entry_id}.",
            question=question,
            entry_id=entry_id,
            match=None,
        )
    return await _write_and_reload(
        request, lambda: attach(app.content.root, entry.file, entry_id, question), texts,
        action="attach", what=f"{entry_id}: {question[:200]}", entry_id=entry_id,
        titles=("Chưa gắn được", "Đã gắn câu hỏi"), question=question, other=False)


async def _write_and_reload(request: web.Request, write, texts: list[str], action: str, what: str,
                            entry_id: str | None, titles: tuple[str, str], **shown) -> web.Response:
    """Run a checked content `write` (attach an example, or record another subject), reload the bot, mark
    the queue's questions handled, and show what the bot now says to the question."""
    app = _app(request)
    console = _c(request)
    shown = {**shown, "entry_id": entry_id or "", "match": None}
    refused, done = titles
    try:
        async with console.content_lock:  # one content write at a time; the check runs off the event loop
            await asyncio.to_thread(write)
    except AttachError as exc:
        await console.audit(request, f"gap_{action}_refused", what)
        return console.render(request, "attached.html", status=400, title=refused, ok=False,
                              report=exc.report, **shown)
    try:
        # Off the event loop: a reload refits the engine (seconds of CPU after a content change), and the
        # bot keeps answering from the previous content meanwhile.
        await asyncio.to_thread(app.content.reload)
    except ContentError as exc:  # the file checked out; something else changed meanwhile
        return console.render(request, "attached.html", status=500, title="Chưa nạp lại được", ok=False,
                              report=str(exc), **shown)
    await app.store.gap_resolutions.resolve(texts, action, request[ACCOUNT].name, entry_id)
    await console.audit(request, f"gap_{action}", what)
    shown["match"] = app.content.engine.answer(shown["question"])
    return console.render(request, "attached.html", title=done, ok=True, report="",
                          entries=app.content.base.entries, **shown)


# --- Nội dung --------------------------------------------------------------------------------------


@allow(*EDITORS)
async def content_page(request: web.Request) -> web.Response:
    """Serve the list of content entries with their review state (admin, editor)."""
    app = _app(request)
    today = app.clock.now().astimezone(app.settings.zone).date()
    base = app.content.base
    rows = []
    for entry in sorted([*base.entries.values(), *base.expired.values()], key=lambda e: e.id):
        flags = []
        if entry.expired(today):
            flags.append("hết hạn")
        if entry.reviewed and today - entry.reviewed > STALE_REVIEW:
            flags.append("quá một năm chưa rà soát")
        rows.append((entry, flags))
    return _c(request).render(request, "content.html", title="Nội dung", rows=rows, today=today,
                              flagged=sum(1 for _, f in rows if f))


@allow(*EDITORS)
async def content_try(request: web.Request) -> web.Response:
    """htmx: "thử hỏi": the engine's answer, its score and the runner-up."""
    from bot.cli.ask import reply_text

    app = _app(request)
    question = str((await request.post()).get("question", "") or "").strip()[:500]
    match = app.content.engine.answer(question) if question else None
    answer = reply_text(app.content.base, match) if match is not None else ""
    return _c(request).fragment(request, "_try.html", question=question, match=match, answer=answer)


# --- Báo cáo ---------------------------------------------------------------------------------------


async def _report(request: web.Request):
    from scheduler.report import build_report

    app = _app(request)
    b = app.services.broadcasts
    this_year = app.clock.now().astimezone(b.zone).year
    try:
        year = int(request.query.get("year", this_year))
    except ValueError:
        year = this_year
    return await build_report(b.bstore, year, b.zone), this_year


@allow(*EDITORS)
async def report_page(request: web.Request) -> web.Response:
    """Serve the yearly report with its charts (admin, editor)."""
    from scheduler.report import COLUMNS, YEARLY_TARGET, n

    report, this_year = await _report(request)
    channels = sorted({ch for (_m, _t, ch) in report.rows})
    sent = {CHANNEL_LABELS.get(ch, ch): [sum(r.counts.get("sent", 0) for (m, _t, c), r in report.rows.items()
                                             if m == month and c == ch) for month in range(1, 13)]
            for ch in channels} or {"Đã gửi": [0] * 12}
    questions = {"Trả lời được": [report.questions.get(m, (0, 0))[1] for m in range(1, 13)],
                 "Chưa trả lời được": [report.questions.get(m, (0, 0))[0] - report.questions.get(m, (0, 0))[1]
                                       for m in range(1, 13)]}
    topics: dict[str, int] = {}
    for (_m, topic, _ch), row in report.rows.items():
        topics[topic] = topics.get(topic, 0) + len(row.broadcasts)
    charts = {
        "sent": bars("Lượt gửi thành công theo tháng và kênh", MONTHS, sent),
        "questions": bars("Câu hỏi theo tháng", MONTHS, questions),
        "target": progress(
            f"Tin đã gửi so với mục tiêu {YEARLY_TARGET} tin mỗi năm", report.items, YEARLY_TARGET
        ),
    }
    from scheduler.report import most_asked

    app = _app(request)
    asked = await most_asked(app.store, report.year, app.settings.zone)
    titles = {e.id: e.title for e in [*app.content.base.entries.values(), *app.content.base.expired.values()]}
    return _c(request).render(request, "report.html", title=f"Báo cáo năm {report.year}", report=report,
                              asked=asked, titles=titles,
                              charts=charts, n=n, columns=COLUMNS, target=YEARLY_TARGET, this_year=this_year,
                              topics=sorted(topics.items(), key=lambda kv: -kv[1]),
                              topic_labels=_topics(_app(request)))


@allow(*EDITORS)
async def report_csv(request: web.Request) -> web.Response:
    """Serve the yearly report as a CSV download (admin, editor)."""
    from scheduler.report import to_csv

    report, _ = await _report(request)
    await _c(request).audit(request, "report_csv", str(report.year))
    return web.Response(body=to_csv(report).encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="bao-cao-{report.year}.csv"'})


# --- Tài khoản -------------------------------------------------------------------------------------


@allow("admin")
async def accounts_page(request: web.Request) -> web.Response:
    """Serve the staff accounts and the console audit log (admin only)."""
    return await _accounts_view(request, actor=request.query.get("actor") or None)


async def _accounts_view(request: web.Request, *, actor: str | None = None, error: str = "",
                         once: str | None = None, made: str | None = None) -> web.Response:
    """The accounts page: every staff account and the console audit log (of `actor`, or everyone's)."""
    app = _app(request)
    return _c(request).render(
        request,
        "accounts.html",
        status=400 if error else 200,
        title="Tài khoản",
        rows=await app.store.staff.all(),
        audit=await app.store.console_audit.recent(limit=300, actor=actor),
        roles=ROLES,
        now=app.clock.now(),
        zone=app.settings.zone,
        error=error,
        once=once,
        made=made,
    )


@allow("admin")
async def accounts_post(request: web.Request) -> web.StreamResponse:
    """Add, disable or reset the password of a staff account (admin only)."""
    console = _c(request)
    form = await request.post()
    action = request.match_info["action"]
    once, made, error = None, None, ""
    try:
        if action == "add":
            row, once = await console.staff.add(str(form.get("name", "")), str(form.get("role", "")),
                                                by=request[ACCOUNT].name)
            made = row.name
        elif action == "disable":
            name = str(form.get("name", ""))
            if name == request[ACCOUNT].name:
                raise AccountError("Bạn không thể tự khóa tài khoản của mình.", "cannot disable yourself")
            await console.staff.disable(name, by=request[ACCOUNT].name)
            raise go("/accounts", "disabled")
        elif action == "reset":
            made = str(form.get("name", ""))
            once = await console.staff.passwd(made, by=request[ACCOUNT].name)
        else:
            raise web.HTTPNotFound()
    except AccountError as exc:
        error = exc.vi
    return await _accounts_view(request, error=error, once=once, made=made)


def add_routes(sub: web.Application) -> None:
    """Register every console page and action on the console sub-application."""
    r = sub.router
    r.add_get("/login", login_page)
    r.add_post("/login", login_post)
    r.add_post("/logout", logout)
    r.add_get("/password", password_page)
    r.add_post("/password", password_post)
    r.add_get("/", overview)
    r.add_get("/broadcasts", broadcasts_list)
    r.add_get("/broadcasts/new", composer)
    r.add_post("/broadcasts/preview", preview)
    r.add_post("/broadcasts/audience", audience)
    r.add_post("/broadcasts", broadcast_create)
    r.add_get("/broadcasts/{id:\\d+}", broadcast_page)
    r.add_get("/broadcasts/{id:\\d+}/progress", broadcast_progress)
    r.add_post("/broadcasts/{id:\\d+}/approve", broadcast_approve)
    r.add_post("/broadcasts/{id:\\d+}/cancel", broadcast_cancel)
    r.add_get("/broadcasts/{id:\\d+}/edit", broadcast_edit_page)
    r.add_post("/broadcasts/{id:\\d+}/edit", broadcast_edit)
    r.add_get("/broadcasts/{id:\\d+}/export.csv", broadcast_export)
    r.add_get("/calendar", calendar_page)
    r.add_post("/calendar/sync", calendar_sync)
    r.add_get("/cases", cases_list)
    r.add_get("/cases/{id:\\d+}", case_page)
    r.add_post("/cases/{id:\\d+}/claim", case_claim)
    r.add_post("/cases/{id:\\d+}/reply", case_reply)
    r.add_post("/cases/{id:\\d+}/close", case_close)
    r.add_get("/gaps", gaps_page)
    r.add_post("/gaps/{action:attach|ignore|new|other}", gaps_action)
    r.add_get("/content", content_page)
    r.add_post("/content/try", content_try)
    r.add_get("/report", report_page)
    r.add_get("/report.csv", report_csv)
    r.add_get("/accounts", accounts_page)
    r.add_post("/accounts/{action:add|disable|reset}", accounts_post)


