"""The yearly communication report (`chonnghe report --year N`): broadcasts and messages sent per
topic, channel and month, reach, blocked recipients, questions asked and answered, the interest quiz's
use (started, finished, most frequent types) and registrations for counselling, compared with the
former Hải Dương province's target of at least 180 items a year (Kế hoạch 3066/KH-SLĐTBXH, I.2)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.storage.guidance import QuizCounts
from bot.storage.models import QuestionLog
from bot.text import thousands as n
from scheduler.store import BroadcastStore, loads

YEARLY_TARGET = 180
COLUMNS = ("sent", "blocked", "failed", "skipped", "unknown")
# Holland's types as the quiz names them (content/quiz.yaml); the report runs without loading content.
RIASEC_VI = {"R": "Kỹ thuật", "I": "Nghiên cứu", "A": "Nghệ thuật", "S": "Xã hội",
             "E": "Quản lý - Kinh doanh", "C": "Nghiệp vụ"}


@dataclass
class Row:
    """A report line's figures: the broadcasts and delivery counts by status."""

    broadcasts: set[int] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class Report:
    """The yearly communication report's figures."""

    year: int
    rows: dict[tuple[int, str, str], Row]  # (month, topic, channel)
    items: int  # broadcasts that reached at least one person
    reach: int  # distinct people who received at least one broadcast
    questions: dict[int, tuple[int, int]]  # month -> (asked, answered)
    quiz: QuizCounts = field(default_factory=lambda: QuizCounts(0, 0, {}))
    leads: int = 0  # registrations for counselling made in the year

    def total(self, key: str) -> int:
        """Deliveries with status `key` over the year."""
        return sum(r.counts.get(key, 0) for r in self.rows.values())

    @property
    def asked(self) -> int:
        """Questions received over the year."""
        return sum(a for a, _ in self.questions.values())

    @property
    def answered(self) -> int:
        """Questions the bot answered over the year."""
        return sum(b for _, b in self.questions.values())


async def build_report(bstore: BroadcastStore, year: int, zone: ZoneInfo) -> Report:
    """The figures of `year` (months in `zone`) from the broadcast and question tables."""
    start = datetime(year, 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone)
    broadcasts, counts, reach, _ = await bstore.year_rows(start, end)
    info = {
        b.id: ((b.started_at or start).astimezone(zone).month, (loads(b.topics) or ["?"])[0])
        for b in broadcasts
    }
    rows: dict[tuple[int, str, str], Row] = {}
    reached: set[int] = set()
    for bid, channel, status, count in counts:
        month, topic = info[bid]
        row = rows.setdefault((month, topic, channel), Row())
        row.broadcasts.add(bid)
        row.counts[status] += int(count)
        if status == "sent" and count:
            reached.add(bid)
    # Questions per month in one portable query (no backend-specific date functions).
    q = QuestionLog.__table__
    bounds = [(m, datetime(year, m, 1, tzinfo=zone), datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=zone))
              for m in range(1, 13)]
    cols = []
    for _, a, b in bounds:
        inside = sa.and_(q.c.asked_at >= a, q.c.asked_at < b)
        cols.append(sa.func.coalesce(sa.func.sum(sa.case((inside, 1), else_=0)), 0))
        cols.append(sa.func.coalesce(sa.func.sum(sa.case((sa.and_(inside, q.c.answered), 1), else_=0)), 0))
    async with bstore.store.session() as s:
        values = (await s.execute(sa.select(*cols).where(q.c.asked_at >= start, q.c.asked_at < end))).one()
    questions = {m: (int(values[2 * i]), int(values[2 * i + 1])) for i, (m, _, _) in enumerate(bounds)
                 if values[2 * i]}
    quiz = await bstore.store.quiz.counts(start, end)
    leads = await bstore.store.leads.count(start, end)
    return Report(year, dict(sorted(rows.items())), len(reached), reach, questions, quiz, leads)


def to_text(report: Report) -> str:
    """The report as staff read it, in Vietnamese."""
    share = report.items / YEARLY_TARGET * 100
    lines = [
        f"BÁO CÁO TRUYỀN THÔNG QUA CHATBOT NĂM {report.year}",
        "",
        f"Tin đã gửi (broadcast có ít nhất một người nhận): {n(report.items)}",
        f"  So với mục tiêu ít nhất {YEARLY_TARGET} tin, bài, ấn phẩm mỗi năm (Kế hoạch 3066/KH-SLĐTBXH "
        f"của tỉnh Hải Dương cũ, mục I.2): {share:.1f}%".replace(
            f"{share:.1f}", f"{share:.1f}".replace(".", ",")
        ),
        "  (mục tiêu đó tính mọi kênh truyền thông; tin qua chatbot là một phần)",
        f"Lượt gửi thành công: {n(report.total('sent'))}",
        f"Số người nhận được ít nhất một tin: {n(report.reach)}",
        f"Chặn bot / không còn liên lạc được: {n(report.total('blocked'))}",
        f"Lỗi: {n(report.total('failed'))}; bỏ qua: {n(report.total('skipped'))}; "
        f"không rõ: {n(report.total('unknown'))}",
        f"Câu hỏi nhận được: {n(report.asked)}; bot trả lời được: {n(report.answered)}"
        + (f" ({report.answered / report.asked * 100:.0f}%)" if report.asked else ""),
        f"Trắc nghiệm chọn nghề: {n(report.quiz.started)} lượt bắt đầu, "
        f"{n(report.quiz.finished)} lượt hoàn thành",
        "  Nhóm sở thích nổi bật thường gặp: " + (", ".join(
            f"{RIASEC_VI.get(code, code)} ({code}) {n(count)}"
            for code, count in report.quiz.top_types(6)) or "—"),
        f"Đăng ký tư vấn: {n(report.leads)}",
        "",
    ]
    header = ("Tháng", "Chủ đề", "Kênh", "Tin", "Đã gửi", "Chặn", "Lỗi", "Bỏ qua", "Không rõ")
    table = [header]
    for (month, topic, channel), row in report.rows.items():
        table.append((f"{month:02d}", topic, channel, n(len(row.broadcasts)),
                      *(n(row.counts.get(c, 0)) for c in COLUMNS)))
    if len(table) == 1:
        lines.append("Chưa có tin nào được gửi trong năm.")
    else:
        widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
        for i, r in enumerate(table):
            cells = [
                str(c).ljust(w) if j < 3 else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            ]
            lines.append("  ".join(cells).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
    if report.questions:
        lines += ["", "Câu hỏi theo tháng (nhận / trả lời được):"]
        lines += [f"  {m:02d}: {n(a)} / {n(b)}" for m, (a, b) in sorted(report.questions.items())]
    return "\n".join(lines) + "\n"


def to_csv(report: Report) -> str:
    """The report's table as CSV: one row per month, topic and channel."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["month", "topic", "channel", "broadcasts", *COLUMNS])
    for (month, topic, channel), row in report.rows.items():
        w.writerow([f"{report.year}-{month:02d}", topic, channel, len(row.broadcasts),
                    *(row.counts.get(c, 0) for c in COLUMNS)])
    w.writerow([str(report.year), "all", "all", report.items, *(report.total(c) for c in COLUMNS)])
    w.writerow([])
    w.writerow(["metric", "value"])
    for key, value in (("items_sent", report.items), ("yearly_target", YEARLY_TARGET),
                       ("reach", report.reach), ("questions_asked", report.asked),
                       ("questions_answered", report.answered), ("quiz_started", report.quiz.started),
                       ("quiz_finished", report.quiz.finished),
                       *((f"quiz_type_{code}", report.quiz.types.get(code, 0)) for code in RIASEC_VI),
                       ("leads", report.leads)):
        w.writerow([key, value])
    return out.getvalue()


async def most_asked(store, year: int, zone: ZoneInfo, limit: int = 10) -> list[tuple[str, int]]:
    """The entries the bot answered most often in `year`: (content id, times), most first."""
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    q = QuestionLog.__table__
    async with store.session() as s:
        rows = await s.execute(sa.select(q.c.content_id, sa.func.count()).where(
            q.c.asked_at >= start, q.c.asked_at < end, q.c.answered, q.c.content_id.is_not(None))
            .group_by(q.c.content_id).order_by(sa.func.count().desc(), q.c.content_id).limit(limit))
        return [(ident, int(n)) for ident, n in rows.all()]
