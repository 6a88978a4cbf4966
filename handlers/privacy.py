"""/xoadulieu: show what is stored about the person, delete all of it after an explicit confirmation
(subscriptions, state, cases, quiz results, registrations for counselling; their questions stay for
statistics, unlinked), and say it is done.

Flow PRIVACY (handlers.steps), step "confirm"; the confirmation button works for 15 minutes.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.content.texts import CHANNEL_LABELS, ROLES
from bot.types import Button, Reply
from handlers import faq
from handlers.buttons import ConfirmDelete
from handlers.common import fold, menu_reply, vn_date
from handlers.router import Ctx, Router
from handlers.steps import PRIVACY, PrivacyData

log = logging.getLogger(__name__)

router = Router()

router.flow(PRIVACY)
CONFIRM_WINDOW = timedelta(minutes=15)
YES = {"co", "xoa", "xoa het", "dong y", "co xoa", "yes"}
NO = {"khong", "khong xoa", "no", "thoi"}


@router.command("xoadulieu")
async def show(ctx: Ctx) -> list[Reply]:
    """/xoadulieu typed: what is stored about the person, with buttons to delete all of it or keep it."""
    t = ctx.t
    user = ctx.profile
    data = await ctx.store.privacy.user_data(user.id)
    topics = ", ".join(ctx.base.topics[x].label if x in ctx.base.topics else x for x in data["topics"])
    age = {True: "dưới 16 tuổi", False: "từ 16 tuổi trở lên"}.get(user.under_16, "chưa hỏi")
    lines = [
        f"• Tên hiển thị: {user.display_name or '(không có)'}",
        f"• Kênh: {CHANNEL_LABELS.get(user.channel, user.channel)} (mã {user.platform_id})",
        f"• Vai trò: {ROLES.get(user.role or '', 'chưa chọn')}; độ tuổi: {age}",
        f"• Bắt đầu trò chuyện: {vn_date(user.created_at.astimezone(ctx.services.settings.zone))}",
        f"• Chủ đề nhận tin: {topics or '(không có)'}",
        f"• Số câu hỏi đã gửi: {data['questions']}",
        f"• Số lần đăng ký/hủy nhận tin: {data['subscription_events']}",
        f"• Yêu cầu gặp tư vấn viên: {data['handoff_cases']}",
        f"• Kết quả trắc nghiệm chọn nghề: {data['quiz_results']}",
        f"• Đăng ký tư vấn (họ tên, số điện thoại...): {data['leads']}",
    ]
    await PRIVACY.begin(ctx, "confirm", PrivacyData(at=ctx.services.clock.now().isoformat()))
    return [Reply(t("privacy_show", lines="\n".join(lines)),
                  ((Button(t.button("delete_yes"), payload=ConfirmDelete("y").pack()),
                    Button(t.button("delete_no"), payload=ConfirmDelete("n").pack())),))]


@router.button(ConfirmDelete)
async def answer(ctx: Ctx, pressed: ConfirmDelete) -> list[Reply]:
    """"Xóa" or "Không xóa" pressed."""
    return await _decide(ctx, pressed.answer == "y")


@PRIVACY.step("confirm")
async def typed(ctx: Ctx) -> list[Reply]:
    """Typed "có"/"xóa" confirms, "không" keeps; anything else leaves the flow and is a question."""
    folded = fold(ctx.text)
    if folded in YES or folded in NO:
        return await _decide(ctx, folded in YES)
    await PRIVACY.end(ctx)
    return await faq.answer_question(ctx)


async def _decide(ctx: Ctx, delete: bool) -> list[Reply]:
    t = ctx.t
    pending = PRIVACY.at(ctx, "confirm")
    if not delete:
        await PRIVACY.end(ctx)
        return [menu_reply(t, t("privacy_kept"))]
    if not pending or _expired(ctx):
        await PRIVACY.end(ctx)
        return [Reply(t("privacy_expired"))]
    case = await ctx.store.cases.open_for(ctx.profile.id)
    if case is not None and ctx.services.staff_chat is not None:
        await ctx.services.messenger.send(ctx.services.staff_chat,
                                          Reply(t("staff_user_deleted", case=case.id)))
    await ctx.store.privacy.delete(ctx.profile.id)
    log.info("user %s deleted their data", ctx.ref)
    return [Reply(t("privacy_deleted"))]


def _expired(ctx: Ctx) -> bool:
    try:
        asked = datetime.fromisoformat(PRIVACY.data(ctx).at or "")
    except ValueError:
        return True
    return ctx.services.clock.now() - asked > CONFIRM_WINDOW
