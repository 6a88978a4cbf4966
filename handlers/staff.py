"""Staff commands (Telegram ids in CHONNGHE_STAFF_TELEGRAM_IDS): /thongke. Refusals of non-staff are made
centrally (handlers.dispatch) so every staff route, in any module, is guarded and audited the same way."""

from __future__ import annotations

from datetime import datetime, time

from bot.content.texts import CHANNEL_LABELS, ROLES
from bot.text import thousands
from bot.types import Reply
from handlers.router import Ctx, Router

router = Router()



def _join(items: dict[str, int], labels: dict[str, str]) -> str:
    if not items:
        return "0"
    ordered = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{labels.get(k, k)} {thousands(v)}" for k, v in ordered)


@router.command("thongke", staff=True)
async def stats(ctx: Ctx) -> list[Reply]:
    """/thongke (staff): today's users, subscribers, questions, quiz runs, registrations and alerts."""
    zone = ctx.services.settings.zone
    now = ctx.services.clock.now().astimezone(zone)
    midnight = datetime.combine(now.date(), time(0, 0), tzinfo=zone)
    s = await ctx.store.stats.since(midnight)
    await ctx.store.audit.record(ctx.ref, "/thongke", True)
    topic_labels = {tid: t.label for tid, t in ctx.base.topics.items()}
    per_topic = {tid: s["subscribers_by_topic"].get(tid, 0) for tid in ctx.base.topics}
    per_topic.update({k: v for k, v in s["subscribers_by_topic"].items() if k not in per_topic})
    asked, answered = s["questions"], s["answered"]
    share = f"{answered * 100 / asked:.0f}%" if asked else "—"
    quiz = await ctx.store.quiz.counts(midnight)
    quiz_all = await ctx.store.quiz.counts()
    leads_today, leads_all = await ctx.store.leads.count(midnight), await ctx.store.leads.count()
    names = {qt.code: qt.name for qt in ctx.base.quiz.types} if ctx.base.quiz else {}
    types = ", ".join(f"{names.get(code, code)} ({code}) {thousands(count)}"
                      for code, count in quiz_all.top_types()) or "—"
    alerts = ctx.services.alerts()
    lines = [
        f"📊 Thống kê lúc {now:%H:%M %d/%m/%Y}",
        f"Người dùng theo vai trò: {_join(s['users_by_role'], ROLES)}",
        f"Theo kênh: {_join(s['users_by_channel'], CHANNEL_LABELS)}",
        f"Đã chặn bot hoặc ngừng theo dõi: {thousands(s['inactive_users'])}",
        f"Người nhận tin theo chủ đề: {_join(per_topic, topic_labels)}",
        f"Câu hỏi hôm nay: {thousands(asked)}; bot trả lời được {thousands(answered)} ({share})",
        f"Trắc nghiệm chọn nghề hôm nay: {thousands(quiz.started)} lượt bắt đầu, "
        f"{thousands(quiz.finished)} lượt hoàn thành; "
        f"từ trước tới nay: {thousands(quiz_all.started)} / {thousands(quiz_all.finished)}",
        f"Nhóm sở thích nổi bật thường gặp: {types}",
        f"Đăng ký tư vấn: hôm nay {thousands(leads_today)}, tổng {thousands(leads_all)} "
        "(xuất: chonnghe leads export)",
    ]
    if alerts:
        lines.append("⚠️ Cảnh báo:\n" + "\n".join(f"- {a}" for a in alerts))
    else:
        lines.append("Cảnh báo: không có.")
    return [Reply("\n".join(lines))]
