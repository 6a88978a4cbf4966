"""Staff broadcast commands: /guitin (a step-by-step wizard: text, topics, time, preview, confirm) and
/lichgui (upcoming broadcasts). Staff only; the wizard's state lives in the database, so a restart
in the middle of it loses nothing."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from bot.text import thousands
from bot.types import Button, Reply
from handlers.buttons import Wizard
from handlers.router import Ctx, Router
from handlers.steps import WIZARD, WizardData
from scheduler.broadcasts import MAX_TEXT, STATUS_VI, BroadcastError

if TYPE_CHECKING:
    from scheduler.broadcasts import Broadcasts

log = logging.getLogger(__name__)

router = Router()

router.flow(WIZARD)
CANCEL_ROW = (Button("❌ Hủy", payload=Wizard("cancel").pack()),)


async def _guard(ctx: Ctx, command: str) -> list[Reply] | None:
    """Refuse anyone who is not staff (the router checks too; this keeps the handler safe on its own)."""
    if ctx.services.is_staff(ctx.incoming.user):
        return None
    log.warning("non-staff %s tried %s", ctx.incoming.user, command)
    await ctx.services.store.audit.record(ctx.incoming.user, command, allowed=False)
    return [Reply("Xin lỗi, chức năng này chỉ dành cho cán bộ phụ trách.")]


def _unavailable() -> list[Reply]:
    return [Reply("Chức năng gửi tin hàng loạt chưa được bật trên máy chủ này.")]


async def _save(ctx: Ctx, step: str, data: WizardData) -> None:
    await WIZARD.goto(ctx, step, data)


# --- /guitin ------------------------------------------------------------------------------------


@router.command("guitin", staff=True)
async def start_wizard(ctx: Ctx) -> list[Reply]:
    """/guitin (staff): opens the broadcast wizard and asks for the message text (step 1 of 4)."""
    if (refused := await _guard(ctx, "/guitin")) is not None:
        return refused
    if ctx.services.broadcasts is None:
        return _unavailable()
    await ctx.services.store.audit.record(ctx.incoming.user, "/guitin", allowed=True)
    await _save(ctx, "text", WizardData())
    return [Reply("📣 Tạo tin gửi hàng loạt, bước 1/4: hãy gửi nội dung tin "
                  f"(tối đa {thousands(MAX_TEXT)} ký tự).\n"
                  "Gõ /huybo để thoát bất cứ lúc nào.", (CANCEL_ROW,))]


async def _staff_service(ctx: Ctx) -> tuple[Broadcasts | None, list[Reply] | None]:
    """The broadcast service, or the replies refusing the person (not staff) or saying it is off."""
    if (refused := await _guard(ctx, "/guitin")) is not None:
        return None, refused
    if ctx.services.broadcasts is None:
        return None, _unavailable()
    return ctx.services.broadcasts, None


@WIZARD.step("text")
async def text_typed(ctx: Ctx) -> list[Reply]:
    """Step 1: the message itself."""
    svc, refused = await _staff_service(ctx)
    if svc is None:
        return refused or []
    try:
        data = replace(WIZARD.data(ctx), text=svc.check_text(ctx.text))
    except BroadcastError as exc:
        return [Reply(f"{exc.vi} Hãy gửi lại nội dung.", (CANCEL_ROW,))]
    await _save(ctx, "topics", data)
    return [_topics_reply(svc, data)]


@WIZARD.step("topics")
async def topics_typed(ctx: Ctx) -> list[Reply]:
    """Step 2 takes buttons only."""
    svc, refused = await _staff_service(ctx)
    if svc is None:
        return refused or []
    return [_topics_reply(svc, WIZARD.data(ctx), "Hãy chọn chủ đề bằng các nút bên dưới.")]


@WIZARD.step("time")
async def time_typed(ctx: Ctx) -> list[Reply]:
    """Step 3: the send time, typed in city time."""
    svc, refused = await _staff_service(ctx)
    if svc is None:
        return refused or []
    data = WIZARD.data(ctx)
    when = None
    try:
        when = svc.parse_when(ctx.text)
        timing = svc.check_time(when)
    except BroadcastError as exc:
        buttons = [(Button("Gửi ngay", payload=Wizard("now").pack()),)]
        if "quiet hours" in exc.en and when is not None:
            await _save(ctx, "time", replace(data, quiet_at=when.isoformat()))
            buttons.insert(0, (Button(f"Dời sang {svc.local(svc.quiet.end_after(when))}",
                                      payload=Wizard("move").pack()),))
        return [Reply(exc.vi, (*buttons, CANCEL_ROW))]
    return await _preview(ctx, replace(data, at=None if when is None else timing.send_at.isoformat()))


@WIZARD.step("confirm")
async def confirm_typed(ctx: Ctx) -> list[Reply]:
    """Step 4 takes buttons only."""
    svc, refused = await _staff_service(ctx)
    if svc is None:
        return refused or []
    return [Reply("Hãy bấm một nút bên dưới: xác nhận gửi, sửa nội dung hoặc hủy.", _confirm_buttons())]


def _topics_reply(svc: Broadcasts, data: WizardData, prefix: str = "") -> Reply:
    chosen = set(data.topics)
    rows = [(Button(("✅ " if tid in chosen else "▫️ ") + label, payload=Wizard("t", tid).pack()),)
            for tid, label in svc.topics().items()]
    rows.append((Button("Tiếp tục ➡️", payload=Wizard("next").pack()),))
    rows.append(CANCEL_ROW)
    head = (prefix + "\n\n") if prefix else ""
    return Reply(head + "Bước 2/4: chọn chủ đề (người đăng ký chủ đề nào sẽ nhận tin), rồi bấm Tiếp tục.",
                 tuple(rows))


def _time_reply(svc: Broadcasts) -> Reply:
    return Reply("Bước 3/4: khi nào gửi? Bấm \"Gửi ngay\" hoặc nhắn thời điểm theo giờ Hải Phòng, ví dụ "
                 f"2026-10-02 09:00. Giờ yên tĩnh ({svc.quiet}) không gửi tin.",
                 ((Button("Gửi ngay", payload=Wizard("now").pack()),), CANCEL_ROW))


def _confirm_buttons(promotion: bool | None = None) -> tuple[tuple[Button, ...], ...]:
    """Confirm / edit / cancel; with `promotion` not None (Zalo OA followers in the audience) also a
    switch marking the message as a promotion, which Zalo limits per follower."""
    rows = [(Button("✅ Xác nhận gửi", payload=Wizard("ok").pack()),),
            (Button("✏️ Sửa nội dung", payload=Wizard("edit").pack()),)]
    if promotion is not None:
        rows.append((Button("Bỏ đánh dấu tin quảng bá" if promotion else "📢 Đánh dấu là tin quảng bá",
                            payload=Wizard("promo").pack()),))
    return (*rows, CANCEL_ROW)


async def _preview(ctx: Ctx, data: WizardData) -> list[Reply]:
    """The plan (who it reaches per channel, Zalo OA promotion limits) and the message as sent."""
    svc = ctx.services.broadcasts
    assert svc is not None
    at = datetime.fromisoformat(data.at) if data.at else None
    promotion = data.promo
    try:
        plan = await svc.plan(data.topics, promotion=promotion, at=at)
    except BroadcastError as exc:
        await _save(ctx, "topics", data)
        return [_topics_reply(svc, data, exc.vi + " Hãy chọn chủ đề khác.")]
    await _save(ctx, "confirm", data)
    labels = svc.topics()
    when = "ngay khi xác nhận" if at is None else svc.local(at)
    reach = sum(plan.reachable.values())
    lines = [
        "Bước 4/4: xem trước.",
        f"Gửi tới: {thousands(reach)} người ({plan.per_channel_vi()})" if reach == plan.total
        else f"Gửi tới: {thousands(reach)}/{thousands(plan.total)} người ({plan.per_channel_vi()})",
        f"Chủ đề: {', '.join(labels.get(t, t) for t in data.topics)}",
        f"Thời điểm: {when}",
    ]
    if promotion or plan.counts.get("zalo_oa"):
        lines.append("Loại tin: " + ("tin quảng bá (tính vào giới hạn của Zalo OA)" if promotion
                                      else "tin thông báo, không phải quảng bá"))
    lines += [vi for vi, _ in plan.warnings()]
    lines.append("Tin người nhận sẽ thấy ở tin nhắn tiếp theo.")
    return [Reply("\n".join(lines)),
            Reply(svc.as_received(data.text or ""),
                  _confirm_buttons(promotion if plan.counts.get("zalo_oa") or promotion else None))]


@router.button(Wizard, staff=True)
async def wizard_button(ctx: Ctx, pressed: Wizard) -> list[Reply]:
    """A wizard button: toggle a topic, next, now, move out of quiet hours, promotion, edit, ok, cancel."""
    svc, refused = await _staff_service(ctx)
    if svc is None:
        return refused or []
    action = pressed.action
    if action == "cancel":
        await WIZARD.end(ctx)
        return [Reply("Đã hủy, không có tin nào được tạo.")]
    if not WIZARD.active(ctx):
        return [Reply("Phiên tạo tin này đã kết thúc. Gõ /guitin để bắt đầu lại.")]
    data = WIZARD.data(ctx)
    if action == "t" and pressed.topic is not None:
        topics = list(data.topics)
        tid = pressed.topic
        if tid in topics:
            topics.remove(tid)
        elif tid in svc.topics():
            topics.append(tid)
        data = replace(data, topics=topics)
        await _save(ctx, "topics", data)
        return [_topics_reply(svc, data)]
    if action == "next":
        if not data.topics:
            return [_topics_reply(svc, data, "Hãy chọn ít nhất một chủ đề.")]
        try:
            await svc.audience(data.topics)
        except BroadcastError as exc:
            return [_topics_reply(svc, data, exc.vi)]
        await _save(ctx, "time", data)
        return [_time_reply(svc)]
    if action == "now":
        try:
            svc.check_time(None)
        except BroadcastError as exc:
            buttons = ((Button(f"Dời sang {svc.local(svc.quiet.end_after(svc.clock.now()))}",
                               payload=Wizard("move").pack()),), CANCEL_ROW)
            await _save(ctx, "time", replace(data, quiet_at=svc.clock.now().isoformat()))
            return [Reply(exc.vi, buttons)]
        return await _preview(ctx, replace(data, at=None))
    if action == "move" and data.quiet_at:
        timing = svc.check_time(max(datetime.fromisoformat(data.quiet_at), svc.clock.now()),
                                move_out_of_quiet=True)
        return await _preview(ctx, replace(data, at=timing.send_at.isoformat()))
    if action == "promo" and WIZARD.at(ctx, "confirm"):
        return await _preview(ctx, replace(data, promo=not data.promo))
    if action == "edit":
        await _save(ctx, "text", data)
        return [Reply("Hãy gửi nội dung mới cho tin.", (CANCEL_ROW,))]
    if action == "ok" and WIZARD.at(ctx, "confirm") and data.text:
        at = datetime.fromisoformat(data.at) if data.at else None
        try:
            row, _ = await svc.create(data.text, data.topics, at=at, created_by=str(ctx.incoming.user),
                                      promotion=data.promo)
        except BroadcastError as exc:
            await _save(ctx, "time", data)
            return [Reply(f"Chưa tạo được tin: {exc.vi}"), _time_reply(svc)]
        await WIZARD.end(ctx)
        return [Reply(f"✅ Đã lên lịch tin #{row.id} lúc {svc.local(row.send_at)}. "
                      "Bạn sẽ nhận báo cáo khi gửi xong; xem lịch bằng /lichgui.")]
    return [Reply("Hãy chọn một nút bên dưới.",
                  _confirm_buttons() if WIZARD.at(ctx, "confirm") else (CANCEL_ROW,))]


# --- /lichgui -----------------------------------------------------------------------------------


@router.command("lichgui", staff=True)
async def upcoming(ctx: Ctx) -> list[Reply]:
    """/lichgui (staff): the next 15 scheduled or draft broadcasts, with how to approve or cancel them."""
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
        topics = ", ".join(labels.get(t, t) for t in svc.topics_of(row))
        preview = " ".join((row.title or row.text).split())
        if len(preview) > 70:
            preview = preview[:69] + "…"
        lines.append(f"#{row.id} · {svc.local(row.send_at)} · {status} · {topics}\n   {preview}")
    lines.append("Duyệt bản nháp: chonnghe broadcast approve ID; hủy: chonnghe broadcast cancel ID.")
    return [Reply("\n".join(lines))]
