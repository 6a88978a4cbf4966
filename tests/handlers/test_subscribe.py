"""/dangky, /huy, /chude: topics by id or label with or without diacritics, buttons, every change recorded."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.storage.models import SubscriptionEvent
from tests.handlers.conftest import Person


@pytest.mark.parametrize("typed", ["tuyen_sinh", "tuyensinh", "Tuyển sinh", "tuyen sinh", "TIN TUYEN SINH",
                                   "tin tuyển sinh"])
async def test_topic_typed_many_ways(an: Person, store, typed):
    (done,) = await an.say(f"/dangky {typed}")
    assert "Đã đăng ký nhận «Tin tuyển sinh»" in done.text and "/huy tuyen_sinh" in done.text
    user = await store.users.get(an.ref)
    assert await store.subscriptions.topics(user.id) == ["tuyen_sinh"]


async def test_first_subscription_carries_the_storage_notice_once(an: Person, store):
    (first,) = await an.say("/dangky viec_lam")
    assert "🔒" in first.text
    (second,) = await an.say("/dangky su_kien")
    assert "🔒" not in second.text
    (again,) = await an.say("/dangky su_kien")
    assert "đã đăng ký «Sự kiện, ngày hội» rồi" in again.text
    assert (await store.users.get(an.ref)).consent == "accepted"


async def test_buttons_all_topics_and_unknown(an: Person, store):
    (choose,) = await an.say("/dangky")
    assert [b.payload for b in choose.flat_buttons] == ["dk:tuyen_sinh", "dk:su_kien", "dk:chinh_sach",
                                                        "dk:viec_lam", "dk:*", "m"]
    (done,) = await an.tap("Chính sách")
    assert "Chính sách hỗ trợ" in done.text
    (choose,) = await an.say("/dangky")
    assert "✅ Chính sách hỗ trợ" in [b.label for b in choose.flat_buttons]
    (all_,) = await an.tap("Tất cả chủ đề")
    assert "tất cả các chủ đề" in all_.text
    user = await store.users.get(an.ref)
    assert await store.subscriptions.topics(user.id) == ["chinh_sach", "su_kien", "tuyen_sinh", "viec_lam"]
    (unknown,) = await an.say("/dangky bong_da")
    assert "không tìm thấy chủ đề «bong_da»" in unknown.text and "tuyen_sinh: Tin tuyển sinh" in unknown.text
    (stale,) = await an.press("dk:khong_con")
    assert "Nút này đã cũ" in stale.text


async def test_unsubscribe_one_all_and_by_buttons(an: Person, store):
    for topic in ("tuyen_sinh", "su_kien", "viec_lam"):
        await an.say(f"/dangky {topic}")
    (one,) = await an.say("/huy su kien")
    assert "Đã hủy nhận «Sự kiện, ngày hội»" in one.text
    (not_sub,) = await an.say("/huy su_kien")
    assert "chưa đăng ký" in not_sub.text
    (choices,) = await an.say("/huy")
    assert [b.payload for b in choices.flat_buttons] == ["huy:tuyen_sinh", "huy:viec_lam", "huy:*"]
    (gone,) = await an.tap("Việc làm")
    assert "Việc làm" in gone.text
    (all_,) = await an.say("/huy tatca")
    assert "Đã hủy nhận tất cả chủ đề (Tin tuyển sinh)" in all_.text
    (none,) = await an.say("/huy")
    assert "chưa đăng ký" in none.text
    (listing,) = await an.say("/chude")
    assert "chưa đăng ký" in listing.text
    async with store.session() as s:
        events = (await s.execute(sa.select(SubscriptionEvent.topic, SubscriptionEvent.action,
                                            SubscriptionEvent.channel).order_by(SubscriptionEvent.id))).all()
    assert events[-1] == ("tuyen_sinh", "unsubscribe", "telegram") and len(events) == 6


async def test_my_topics(an: Person):
    await an.say("/dangky chinh_sach")
    (listing,) = await an.say("/chude")
    assert "• Chính sách hỗ trợ (chinh_sach)" in listing.text
    assert [b.payload for b in listing.flat_buttons] == ["dk", "huy"]


async def test_under_16_needs_a_parent_first(an: Person, store):
    await an.say("/start")
    await an.tap("THCS")
    await an.tap("Dưới 16")
    (ask,) = await an.say("/dangky tuyen_sinh")
    assert "cha mẹ" in ask.text and [b.payload for b in ask.flat_buttons] == ["pc:tuyen_sinh", "pc"]
    (later,) = await an.tap("Để sau")
    assert "Khi cha mẹ đồng ý" in later.text
    user = await store.users.get(an.ref)
    assert await store.subscriptions.topics(user.id) == []
    await an.say("/dangky tuyen_sinh")
    (done,) = await an.tap("Cha mẹ đã đồng ý")
    assert "Đã đăng ký" in done.text
    assert (await store.users.get(an.ref)).consent == "parent_confirmed"
    (next_,) = await an.say("/dangky viec_lam")  # asked once
    assert "Đã đăng ký" in next_.text


async def test_bare_command_words_without_slash(an: Person, store):
    (done,) = await an.say("dangky su_kien")
    assert "Đã đăng ký" in done.text
    (gone,) = await an.say("huy tatca")
    assert "Đã hủy" in gone.text
    # A name that looks like a command, in a real sentence, is a question.
    (question,) = await an.say("Huy muốn hỏi học phí học nghề")
    assert "học phí" in question.text.lower()


async def test_a_student_who_skipped_the_age_question_is_asked_before_subscribing(an: Person, store):
    await an.say("/start")
    await an.tap("THPT")
    await an.say("/menu")  # never answered the age question
    (ask,) = await an.say("/dangky viec_lam")
    assert "bao nhiêu tuổi" in ask.text
    (parents,) = await an.tap("Dưới 16")
    assert "Cha mẹ bạn đã đồng ý chưa?" in parents.text
    (done,) = await an.tap("Cha mẹ đã đồng ý")
    assert "Đã đăng ký nhận «Việc làm»" in done.text
    await an.say("/vaitro")
    await an.tap("THCS")
    (older,) = await an.tap("Từ 16")
    assert "Cảm ơn" in older.text
