"""/xoadulieu, /thongke, refusals of staff commands, groups, and the rules every reply follows."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import sqlalchemy as sa

from bot.content.texts import DEFAULTS, Texts
from bot.storage.models import QuestionLog, StaffAudit
from bot.types import Incoming, UserRef
from handlers import build_handler
from tests.handlers.conftest import Person

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


async def test_show_then_delete_everything(an: Person, store, clock):
    await an.say("/start")
    await an.tap("Phụ huynh")
    await an.say("/dangky tuyen_sinh")
    await an.say("học phí học nghề bao nhiêu")
    (shown,) = await an.say("/xoadulieu")
    for part in ("Tên hiển thị: Nguyễn An", "Telegram (mã 1001)", "Vai trò: Phụ huynh", "Tin tuyển sinh",
                 "Số câu hỏi đã gửi: 1", "01/09/2026"):
        assert part in shown.text
    assert [b.payload for b in shown.flat_buttons] == ["xd:y", "xd:n"]
    (done,) = await an.tap("Xóa hết")
    assert "Đã xóa toàn bộ dữ liệu" in done.text
    assert await store.users.get(an.ref) is None
    await store.flush()
    async with store.session() as s:
        (q,) = (await s.execute(sa.select(QuestionLog))).scalars().all()
    assert q.user_id is None  # kept for statistics, no longer linked to them
    # Writing again starts from scratch.
    welcome, _ = await an.say("/start")
    assert "Xin chào" in welcome.text


async def test_keep_expire_and_typed_confirmation(an: Person, store, clock):
    await an.say("/xoadulieu")
    (kept,) = await an.tap("Không xóa")
    assert "giữ nguyên" in kept.text
    (expired,) = await an.press("xd:y")
    assert "hết hạn" in expired.text
    await an.say("/xoadulieu")
    clock.advance(minutes=20)
    (expired,) = await an.press("xd:y")
    assert "hết hạn" in expired.text
    assert await store.users.get(an.ref) is not None
    await an.say("/xoadulieu")
    (done,) = await an.say("Có")
    assert "Đã xóa" in done.text
    await an.say("/xoadulieu")
    (answer,) = await an.say("học phí học nghề bao nhiêu")  # anything else: a question, flow left
    assert answer.text.startswith("Câu trả lời thử")


async def test_stats_for_staff_and_refusal_for_others(an: Person, handle, store):
    await an.say("/start")
    await an.tap("THPT")
    await an.tap("Từ 16")
    await an.say("/dangky viec_lam")
    await an.say("học phí học nghề bao nhiêu")
    await an.say("câu hỏi không ai trả lời được")
    (refused,) = await an.say("/thongke")
    assert refused.text == "Xin lỗi, lệnh này chỉ dành cho cán bộ phụ trách."
    (refused_button,) = await an.press("gt:ok")
    assert "chỉ dành cho cán bộ" in refused_button.text
    lan = Person(handle, "42", "Cô Lan")
    (stats,) = await lan.say("/thongke")
    assert "Học sinh THPT 1" in stats.text and "Telegram 2" in stats.text
    assert "Việc làm 1" in stats.text and "Tin tuyển sinh 0" in stats.text
    assert "Câu hỏi hôm nay: 2; bot trả lời được 1 (50%)" in stats.text
    assert "Cảnh báo: không có." in stats.text
    async with store.session() as s:
        audit = (await s.execute(sa.select(StaffAudit.platform_id, StaffAudit.command, StaffAudit.allowed)
                                 .order_by(StaffAudit.id))).all()
    assert audit == [("1001", "/thongke", False), ("1001", "button gt", False), ("42", "/thongke", True)]


async def test_alerts_show_in_stats(services):
    alerting = dataclasses.replace(services, alerts=lambda: ["Zalo OA: refresh token hết hạn"])
    lan = Person(build_handler(alerting), "42", "Cô Lan")
    (stats,) = await lan.say("/thongke")
    assert "⚠️ Cảnh báo:\n- Zalo OA: refresh token hết hạn" in stats.text


async def test_other_groups_get_commands_only(handle):
    member = Person(handle, "77", chat_id="-900")
    assert await member.say("học phí học nghề bao nhiêu") == []
    (help_,) = await member.say("/trogiup")
    assert "Mình có thể" in help_.text


async def test_same_person_on_another_channel_is_another_user(handle, store):
    zalo = Person(handle, "1001", channel="zalo_bot")
    await zalo.say("/dangky tuyen_sinh")
    tg = Person(handle, "1001")
    (none,) = await tg.say("/chude")
    assert "chưa đăng ký" in none.text
    assert (await store.users.get(UserRef("zalo_bot", "1001"))).channel == "zalo_bot"
    assert not (await zalo.say("/thongke"))[0].text.startswith("📊")  # staff are Telegram ids only


async def test_every_payload_fits_telegram_and_every_text_is_vietnamese(an: Person, staff: Person):
    seen: list = []
    steps = ["/start", "role:hs_thpt", "age:16", "m:faq", "m:nghe", "ng:co_khi", "n:nghe.han", "nt:nghe.han",
             "t:truong.thu_nghiem_a", "m:truong", "tr:hai_duong:1", "m:tin", "dk:*", "/chude", "/huy",
             "học phí học nghề bao nhiêu", "xe lửa", "/trogiup", "/xoadulieu", "xd:n", "/tuvan hỏi", "/huybo"]
    for step in steps:
        replies = await (an.press(step) if ":" in step and " " not in step else an.say(step))
        seen.extend(replies)
    for reply in seen:
        assert reply.text.strip()
        for b in reply.flat_buttons:
            assert b.url or (b.payload and 1 <= len(b.payload.encode()) <= 64), b


PLATFORM_CHECK = re.compile(r"""(==|!=)\s*["'](telegram|zalo_oa|zalo_bot|web|cli)["']|"""
                            r"""["'](telegram|zalo_oa|zalo_bot|web|cli)["']\s*(==|!=)|"""
                            r"""channel\s+(not\s+)?in\b""")


def test_handlers_never_branch_on_the_platform():
    for path in HANDLERS.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(telegram|aiohttp)\b", source, re.M), path
        if path.name != "services.py":  # Services.is_staff: staff are Telegram ids, by definition
            assert not PLATFORM_CHECK.search(source), (path, PLATFORM_CHECK.search(source))


def test_texts_yaml_overrides_and_bad_overrides_are_ignored():
    texts = Texts({"texts": {"who_are_you": "Bạn là ai nhỉ?", "welcome_back": "Thiếu chỗ điền",
                             "nope": "x"}, "office_hours": {"days": [0, 1, 2, 3, 4, 5], "start": "08:00",
                                                            "end": "11:30"},
                   "examples": ["Học nghề gì?"]})
    assert texts("who_are_you") == "Bạn là ai nhỉ?"
    assert texts("welcome_back", role="X") == DEFAULTS["welcome_back"].format(role="X")
    assert texts.examples == ("Học nghề gì?",)
    assert texts.office.describe() == "08:00-11:30, thứ Hai, thứ Ba, thứ Tư, thứ Năm, thứ Sáu, thứ Bảy"


async def test_unknown_flow_in_the_database_is_dropped(an: Person, store):
    user = await store.users.touch(an.ref)
    await store.users.set_state(user.id, "quiz_removed_in_v2", "q3", {})
    (answer,) = await an.say("học phí học nghề bao nhiêu")
    assert answer.text.startswith("Câu trả lời thử")
    assert (await store.users.get_state(user.id)).flow is None


async def test_handler_error_does_not_leak(handle, services, monkeypatch):
    from bot.conversation import Conversation
    from bot.outbound import Outbound

    async def boom(_incoming):
        raise RuntimeError("bug")

    sent = []

    class Out(Outbound):
        async def send(self, to, reply):
            sent.append(reply)

    conv = Conversation(boom, Out(None))
    await conv.process(Incoming(UserRef("cli", "x"), text="hi"))
    assert "hệ thống đang gặp sự cố" in sent[0].text
