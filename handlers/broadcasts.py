"""Staff broadcast commands: /guitin (a step-by-step wizard: text, topics, time, preview, confirm) and
/lichgui (upcoming broadcasts). Staff only; the wizard's state lives in the database, so a restart
in the middle of it loses nothing."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.types import Button, Reply
from handlers.router import Ctx, Router
from scheduler.broadcasts import MAX_TEXT, STATUS_VI, BroadcastError
from scheduler.dispatcher import FOOTER
from scheduler.store import loads

log = logging.getLogger(__name__)

router = Router()

FLOW = "guitin"
P = "gt"  # payload prefix; Telegram callback data holds at most 64 bytes, so keep it short
CANCEL_ROW = (Button("❌ Hủy", payload=f"{P}:cancel"),)


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


async def _guard(ctx: Ctx, command: str) -> list[Reply] | None:
    """Refuse anyone who is not staff (the router checks too; this keeps the handler safe on its own)."""
    if ctx.services.is_staff(ctx.incoming.user):
        return None
    log.warning("non-staff %s tried %s", ctx.incoming.user, command)
    await ctx.services.store.audit.record(ctx.incoming.user, command, allowed=False)
    return [Reply("Xin lỗi, chức năng này chỉ dành cho cán bộ phụ trách.")]


def _unavailable() -> list[Reply]:
    return [Reply("Chức năng gửi tin hàng loạt chưa được bật trên máy chủ này.")]


async def _save(ctx: Ctx, step: str, data: dict) -> None:
    await ctx.services.store.users.set_state(ctx.user.id, FLOW, step, data)


# --- /guitin ------------------------------------------------------------------------------------


@router.command("guitin", staff=True)
async def start_wizard(ctx: Ctx) -> list[Reply]:
    if (refused := await _guard(ctx, "/guitin")) is not None:
        return refused
    if ctx.services.broadcasts is None:
        return _unavailable()
    await ctx.services.store.audit.record(ctx.incoming.user, "/guitin", allowed=True)
    await _save(ctx, "text", {})
    return [Reply(f"📣 Tạo tin gửi hàng loạt, bước 1/4: hãy gửi nội dung tin (tối đa {_n(MAX_TEXT)} ký tự).\n"
                  "Gõ /huybo để thoát bất cứ lúc nào.", (CANCEL_ROW,))]


@router.flow(FLOW, staff=True)
async def wizard_text(ctx: Ctx) -> list[Reply]:
    """Free text during the wizard: the message itself, or the send time."""
    if (refused := await _guard(ctx, "/guitin")) is not None:
        return refused
    svc = ctx.services.broadcasts
    if svc is None:
        return _unavailable()
    data = dict(ctx.state.data)
    step = ctx.state.step
    if step == "text":
        try:
            data["text"] = svc.check_text(ctx.text)
        except BroadcastError as exc:
            return [Reply(f"{exc.vi} Hãy gửi lại nội dung.", (CANCEL_ROW,))]
        data.setdefault("topics", [])
        await _save(ctx, "topics", data)
        return [_topics_reply(svc, data)]
    if step == "time":
        when = None
        try:
            when = svc.parse_when(ctx.text)
            timing = svc.check_time(when)
        except BroadcastError as exc:
            buttons = [(Button("Gửi ngay", payload=f"{P}:now"),)]
            if "quiet hours" in exc.en and when is not None:
                data["quiet_at"] = when.isoformat()
                await _save(ctx, "time", data)
                buttons.insert(0, (Button(f"Dời sang {svc.local(svc.quiet.end_after(when))}", payload=f"{P}:move"),))
            return [Reply(exc.vi, (*buttons, CANCEL_ROW))]
        data["at"] = None if when is None else timing.send_at.isoformat()
        return await _preview(ctx, data)
    if step == "topics":
        return [_topics_reply(ctx.services.broadcasts, data, "Hãy chọn chủ đề bằng các nút bên dưới.")]
    return [Reply("Hãy bấm một nút bên dưới: xác nhận gửi, sửa nội dung hoặc hủy.", _confirm_buttons())]


def _topics_reply(svc, data: dict, prefix: str = "") -> Reply:
    chosen = set(data.get("topics", []))
    rows = [(Button(("✅ " if tid in chosen else "▫️ ") + label, payload=f"{P}:t:{tid}"),)
            for tid, label in svc.topics().items()]
    rows.append((Button("Tiếp tục ➡️", payload=f"{P}:next"),))
    rows.append(CANCEL_ROW)
    head = (prefix + "\n\n") if prefix else ""
    return Reply(head + "Bước 2/4: chọn chủ đề (người đăng ký chủ đề nào sẽ nhận tin), rồi bấm Tiếp tục.",
                 tuple(rows))


def _time_reply(svc) -> Reply:
    return Reply("Bước 3/4: khi nào gửi? Bấm \"Gửi ngay\" hoặc nhắn thời điểm theo giờ Hải Phòng, ví dụ "
                 f"2026-10-02 09:00. Giờ yên tĩnh ({svc.quiet}) không gửi tin.",
                 ((Button("Gửi ngay", payload=f"{P}:now"),), CANCEL_ROW))


def _confirm_buttons(promotion: bool | None = None) -> tuple[tuple[Button, ...], ...]:
    """Confirm / edit / cancel; with `promotion` not None (Zalo OA followers in the audience) also a
    switch marking the message as a promotion, which Zalo limits per follower."""
    rows = [(Button("✅ Xác nhận gửi", payload=f"{P}:ok"),), (Button("✏️ Sửa nội dung", payload=f"{P}:edit"),)]
    if promotion is not None:
        rows.append((Button("Bỏ đánh dấu tin quảng bá" if promotion else "📢 Đánh dấu là tin quảng bá",
                            payload=f"{P}:promo"),))
    return (*rows, CANCEL_ROW)


async def _preview(ctx: Ctx, data: dict) -> list[Reply]:
    """The plan (who it reaches per channel, Zalo OA promotion limits) and the message as sent."""
    svc = ctx.services.broadcasts
    at = datetime.fromisoformat(data["at"]) if data.get("at") else None
    promotion = bool(data.get("promo"))
    try:
        plan = await svc.plan(data["topics"], promotion=promotion, at=at)
    except BroadcastError as exc:
        await _save(ctx, "topics", data)
        return [_topics_reply(svc, data, exc.vi + " Hãy chọn chủ đề khác.")]
    await _save(ctx, "confirm", data)
    labels = svc.topics()
    when = "ngay khi xác nhận" if at is None else svc.local(at)
    reach = sum(plan.reachable.values())
    lines = [
        "Bước 4/4: xem trước.",
        f"Gửi tới: {_n(reach)} người ({plan.per_channel_vi()})" if reach == plan.total
        else f"Gửi tới: {_n(reach)}/{_n(plan.total)} người ({plan.per_channel_vi()})",
        f"Chủ đề: {', '.join(labels.get(t, t) for t in data['topics'])}",
        f"Thời điểm: {when}",
    ]
    if promotion or plan.counts.get("zalo_oa"):
        lines.append("Loại tin: " + ("tin quảng bá (tính vào giới hạn của Zalo OA)" if promotion
                                      else "tin thông báo, không phải quảng bá"))
    lines += [vi for vi, _ in plan.warnings()]
    lines.append("Tin người nhận sẽ thấy ở tin nhắn tiếp theo.")
    return [Reply("\n".join(lines)),
            Reply(data["text"] + FOOTER, _confirm_buttons(promotion if plan.counts.get("zalo_oa") or promotion
                                                          else None))]


@router.payload(P, staff=True)
async def wizard_button(ctx: Ctx) -> list[Reply]:
    if (refused := await _guard(ctx, "/guitin")) is not None:
        return refused
    svc = ctx.services.broadcasts
    if svc is None:
        return _unavailable()
    action = ctx.args[0] if ctx.args else ""
    if action == "cancel":
        await ctx.services.store.users.clear_state(ctx.user.id)
        return [Reply("Đã hủy, không có tin nào được tạo.")]
    if ctx.state.flow != FLOW:
        return [Reply("Phiên tạo tin này đã kết thúc. Gõ /guitin để bắt đầu lại.")]
    data = dict(ctx.state.data)
    if action == "t" and len(ctx.args) > 1:
        topics = list(data.get("topics", []))
        tid = ctx.args[1]
        if tid in topics:
            topics.remove(tid)
        elif tid in svc.topics():
            topics.append(tid)
        data["topics"] = topics
        await _save(ctx, "topics", data)
        return [_topics_reply(svc, data)]
    if action == "next":
        if not data.get("topics"):
            return [_topics_reply(svc, data, "Hãy chọn ít nhất một chủ đề.")]
        try:
            await svc.audience(data["topics"])
        except BroadcastError as exc:
            return [_topics_reply(svc, data, exc.vi)]
        await _save(ctx, "time", data)
        return [_time_reply(svc)]
    if action == "now":
        try:
            svc.check_time(None)
        except BroadcastError as exc:
            buttons = ((Button(f"Dời sang {svc.local(svc.quiet.end_after(svc.clock.now()))}", payload=f"{P}:move"),),
                       CANCEL_ROW)
            data["quiet_at"] = svc.clock.now().isoformat()
            await _save(ctx, "time", data)
            return [Reply(exc.vi, buttons)]
        data["at"] = None
        return await _preview(ctx, data)
    if action == "move" and data.get("quiet_at"):
        timing = svc.check_time(max(datetime.fromisoformat(data["quiet_at"]), svc.clock.now()), move_out_of_quiet=True)
        data["at"] = timing.send_at.isoformat()
        return await _preview(ctx, data)
    if action == "promo" and ctx.state.step == "confirm":
        data["promo"] = not data.get("promo")
        return await _preview(ctx, data)
    if action == "edit":
        await _save(ctx, "text", data)
        return [Reply("Hãy gửi nội dung mới cho tin.", (CANCEL_ROW,))]
    if action == "ok" and ctx.state.step == "confirm":
        at = datetime.fromisoformat(data["at"]) if data.get("at") else None
        try:
            row, _ = await svc.create(data["text"], data["topics"], at=at, created_by=str(ctx.incoming.user),
                                      promotion=bool(data.get("promo")))
        except BroadcastError as exc:
            await _save(ctx, "time", data)
            return [Reply(f"Chưa tạo được tin: {exc.vi}"), _time_reply(svc)]
        await ctx.services.store.users.clear_state(ctx.user.id)
        return [Reply(f"✅ Đã lên lịch tin #{row.id} lúc {svc.local(row.send_at)}. "
                      "Bạn sẽ nhận báo cáo khi gửi xong; xem lịch bằng /lichgui.")]
    return [Reply("Hãy chọn một nút bên dưới.", _confirm_buttons() if ctx.state.step == "confirm" else (CANCEL_ROW,))]


# --- /lichgui -----------------------------------------------------------------------------------


@router.command("lichgui", staff=True)
async def upcoming(ctx: Ctx) -> list[Reply]:
    if (refused := await _guard(ctx, "/lichgui")) is not None:
        return refused
    svc = ctx.services.broadcasts
    if svc is None:
        return _unavailable()
    await ctx.services.store.audit.record(ctx.incoming.user, "/lichgui", allowed=True)
    rows = await svc.upcoming(limit=15)
    if not rows:
        return [Reply("Chưa có tin nào được lên lịch. Gõ /guitin để tạo tin mới.")]
    labels = svc.topics()
    lines = ["📅 Tin sắp gửi:"]
    for row in rows:
        status = STATUS_VI.get(row.status, row.status)
        if row.status == "draft":
            status += " (chờ duyệt)"
        topics = ", ".join(labels.get(t, t) for t in loads(row.topics))
        preview = " ".join((row.title or row.text).split())
        if len(preview) > 70:
            preview = preview[:69] + "…"
        lines.append(f"#{row.id} · {svc.local(row.send_at)} · {status} · {topics}\n   {preview}")
    lines.append("Duyệt bản nháp: chonnghe broadcast approve ID; hủy: chonnghe broadcast cancel ID.")
    return [Reply("\n".join(lines))]
