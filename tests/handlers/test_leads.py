"""Registering for counselling: phone, name and year checks, the form by buttons and typing, corrections from
the summary, the under-16 parental step, pre-filling from pages, who is told, /huybo and /xoadulieu."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.storage.models import Lead, StaffAudit
from handlers.leads import clean_name, normalise_phone, parse_birth
from tests.handlers.conftest import STAFF_CHAT, Person

GOOD_PHONES = [
    ("0912345678", "0912345678"), ("0912 345 678", "0912345678"), ("+84912345678", "0912345678"),
    ("84-912-345-678", "0912345678"), ("+84 912 345 678", "0912345678"), ("(+84) 912.345.678", "0912345678"),
    ("0084912345678", "0912345678"), ("+84 0912 345 678", "0912345678"), ("912345678", "0912345678"),
    ("0389 123 456", "0389123456"), ("0563123456", "0563123456"), ("0701234567", "0701234567"),
    ("0812345678", "0812345678"), (" 098-765-4321 ", "0987654321"),
]
BAD_PHONES = ["", "abc", "0912", "091234567", "09123456789", "0123456789", "0212345678", "02253123456",
              "+1 912 345 678", "+4412345678", "0912-345-67a", "0912345678 hoặc 0987654321", "84123456789",
              "1900 1234", "++84912345678", "0061234567"]


@pytest.mark.parametrize(("typed", "canonical"), GOOD_PHONES)
def test_good_phone_numbers_become_ten_digits(typed, canonical):
    assert normalise_phone(typed) == canonical


@pytest.mark.parametrize("typed", BAD_PHONES)
def test_bad_phone_numbers_are_refused(typed):
    assert normalise_phone(typed) is None


@pytest.mark.parametrize(("typed", "name"), [("Nguyễn Văn An", "Nguyễn Văn An"),
                                             ("  trần   thị  bình ", "trần thị bình"),
                                             ("Lê Đức", "Lê Đức"), ("H'Hen Niê", "H'Hen Niê")])
def test_names(typed, name):
    assert clean_name(typed) == name


@pytest.mark.parametrize("typed", ["12345", "An1", "a", "x" * 300, "Nguyễn " * 10, "an@example.org",
                                   "😀😀", ""])
def test_bad_names(typed):
    assert clean_name(typed) is None


@pytest.mark.parametrize(("typed", "parsed"), [
    ("2010", ("year", 2010)), ("em sinh năm 2008", ("year", 2008)), ("lớp 9", ("grade", 9)),
    ("9", ("grade", 9)), ("Lop 12", ("grade", 12)), ("2030", ("future", 2030)), ("1900", ("absurd", 1900)),
    ("2024", ("absurd", 2024)),
    ("lớp 3", ("bad", None)), ("abc", ("bad", None)), ("", ("bad", None)),
])
def test_year_of_birth_or_grade(typed, parsed):
    assert parse_birth(typed, 2026) == parsed


async def leads(store) -> list[Lead]:
    async with store.session() as s:
        return list((await s.execute(sa.select(Lead).order_by(Lead.id))).scalars())


async def fill_to_summary(p: Person, *, who: str = "Phụ huynh", birth: str = "2010") -> None:
    await p.say("/dangkytuvan")
    await p.say("Nguyễn Văn An")
    await p.say("0912 345 678")
    await p.tap(who)
    await p.say(birth)
    await p.tap("Nghề Hàn")
    await p.tap("Chưa chọn trường")
    await p.tap("Buổi chiều")


async def test_whole_form_then_one_record_and_staff_told(an: Person, store, messenger):
    await fill_to_summary(an)
    (summary,) = an.last
    assert "• Số điện thoại: 0912 345 678" in summary.text and "• Năm sinh của con: 2010" in summary.text
    assert "cán bộ tư vấn của thành phố" in summary.text and "tối đa 12 tháng" in summary.text
    assert len([b for b in summary.flat_buttons if b.label.startswith("✏️ Sửa")]) == 7
    assert await leads(store) == []  # nothing written before the confirmation
    (done,) = await an.tap("Xác nhận gửi")
    assert "Đã ghi nhận đăng ký" in done.text and "0912 345 678" in done.text
    (row,) = await leads(store)
    assert (row.full_name, row.phone, row.who, row.birth_year, row.trade_id, row.school_id,
            row.call_time) == ("Nguyễn Văn An", "0912345678", "parent", 2010, "nghe.han", None, "afternoon")
    (card,) = messenger.to(STAFF_CHAT)
    assert "Đăng ký tư vấn #" in card.text and "0912 345 678" in card.text and "Nghề Hàn" in card.text
    (again,) = await an.press("dc:y")  # a second press of the old button records nothing more
    assert "đã kết thúc" in again.text and len(await leads(store)) == 1
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).flow is None


async def test_bad_input_asks_politely_and_typed_choices(an: Person, store):
    await an.say("/dangkytuvan")
    for bad in ("12345", "x" * 300):
        (ask,) = await an.say(bad)
        assert "chưa ghi được họ tên" in ask.text
    await an.say("Trần Bình")
    (ask,) = await an.say("0123 456 789")
    assert "Số điện thoại này chưa đúng" in ask.text
    await an.say("+84912345678")
    await an.say("học sinh")
    (future,) = await an.say("2099")
    assert "chưa tới" in future.text
    (absurd,) = await an.say("1800")
    assert "có vẻ chưa đúng" in absurd.text
    await an.say("2005")  # 21 this year: no parental step
    assert "nghề nào" in an.text
    await an.say("sửa điện thoại")  # a trade the content does not list is kept as typed
    await an.say("tối")
    (summary,) = an.last
    assert "• Nghề quan tâm: sửa điện thoại" in summary.text and "• Gọi vào: buổi tối" in summary.text
    (nudge,) = await an.say("chắc vậy")
    assert "Xác nhận gửi" in nudge.text
    await an.say("xác nhận")
    (row,) = await leads(store)
    assert (row.phone, row.trade_id, row.trade_text, row.birth_year) == ("0912345678", None,
                                                                        "sửa điện thoại", 2005)


async def test_corrections_from_the_summary(an: Person, store):
    await fill_to_summary(an)
    await an.tap("Sửa số điện thoại")
    assert "Số điện thoại" in an.text
    (summary,) = await an.say("0987654321")
    assert "0987 654 321" in summary.text and "Xác nhận gửi" in summary.text
    await an.tap("Sửa nghề")
    await an.tap("Kỹ thuật chế biến món ăn")
    (school,) = an.last
    assert "Trường Trung cấp Thử nghiệm B" in [b.label for b in school.flat_buttons]
    (summary,) = await an.tap("Thử nghiệm B")
    # That school has its own staff chat: the consent says who sees the details.
    assert "và của Trường Trung cấp Thử nghiệm B" in summary.text
    await an.tap("Sửa năm sinh")
    (summary,) = await an.say("lớp 9")
    assert "• Lớp của con: 9" in summary.text
    await an.tap("Xác nhận gửi")
    (row,) = await leads(store)
    assert (row.phone, row.trade_id, row.school_id, row.grade, row.birth_year) == (
        "0987654321", "nghe.nau_an", "truong.thu_nghiem_b", 9, None)


async def test_school_with_its_own_chat_receives_its_registrations(an: Person, messenger):
    await an.press("t:truong.thu_nghiem_b")
    (first,) = await an.tap("Đăng ký tư vấn")
    assert "Trường Trung cấp Thử nghiệm B" in first.text and "Họ và tên" in first.text
    await an.say("Nguyễn Văn An")
    await an.say("0912345678")
    await an.tap("Phụ huynh")
    await an.say("2009")
    (trades,) = an.last
    # the school's trades come first
    assert [b.label for b in trades.flat_buttons][:2] == ["Kỹ thuật chế biến món ăn", "Nghề Hàn"]
    await an.tap("Nghề Hàn")
    await an.tap("Lúc nào cũng được")
    await an.tap("Xác nhận gửi")
    assert "Đã ghi nhận" in an.text
    assert len(messenger.to(STAFF_CHAT)) == 1 and len(messenger.to("-100777")) == 1


async def test_trade_page_prefills_the_trade(an: Person, store):
    await an.press("n:nghe.han")
    (first,) = await an.tap("Đăng ký tư vấn")
    assert "Nghề Hàn" in first.text
    await an.say("Nguyễn Văn An")
    await an.say("0912345678")
    await an.tap("Phụ huynh")
    (school,) = await an.say("2010")
    assert "chọn trường" in school.text  # the trade step is skipped


async def test_under_16_needs_a_parent_first(an: Person, store):
    await an.say("/start")
    await an.tap("THCS")
    await an.tap("Dưới 16")
    (parent,) = await an.say("/dangkytuvan")
    assert "dưới 16 tuổi" in parent.text and "Họ và tên" not in parent.text
    (later,) = await an.tap("Để sau")
    assert "không được lưu" in later.text
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).flow is None
    await an.say("/dangkytuvan")
    (name,) = await an.tap("Cha mẹ đã đồng ý")
    assert "Họ và tên" in name.text
    assert (await store.users.get(an.ref)).consent == "parent_confirmed"


async def test_under_16_by_year_of_birth(an: Person, store):
    await an.say("/dangkytuvan")
    await an.say("Nguyễn Văn An")
    await an.say("0912345678")
    await an.tap("Học sinh")
    (parent,) = await an.say("2012")
    assert "dưới 16 tuổi" in parent.text
    await an.tap("Để sau")
    assert await leads(store) == []
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).data == {}  # the name and phone typed are not kept


async def test_cancel_keeps_nothing(an: Person, store):
    await an.say("/dangkytuvan")
    await an.say("Nguyễn Văn An")
    await an.say("0912345678")
    (cancelled,) = await an.say("/huybo")
    assert "Đã hủy đăng ký" in cancelled.text
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).flow is None and await leads(store) == []
    (stale,) = await an.press("dp:who:student")
    assert "đã kết thúc" in stale.text


async def test_privacy_deletes_registrations_and_audits(an: Person, store):
    await fill_to_summary(an)
    await an.tap("Xác nhận gửi")
    (shown,) = await an.say("/xoadulieu")
    assert "Đăng ký tư vấn (họ tên, số điện thoại...): 1" in shown.text
    await an.tap("Xóa hết")
    assert await leads(store) == []
    async with store.session() as s:
        audits = (await s.execute(sa.select(StaffAudit.command))).scalars().all()
    assert "/xoadulieu: 1 registration(s) deleted" in audits
