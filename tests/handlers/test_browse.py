"""The trade and school browsers, and payloads that stay within 64 bytes for long content ids."""

from __future__ import annotations

from handlers.buttons import TradeSchools
from handlers.callbacks import MAX_PAYLOAD
from handlers.common import ref, unref
from tests.handlers.conftest import Person


async def test_trade_browser_from_group_to_school(an: Person):
    (groups,) = await an.press("m:nghe")
    assert [b.label for b in groups.flat_buttons][:2] == ["Cơ khí - Điện", "Dịch vụ"]
    (trades,) = await an.tap("Cơ khí")
    assert [b.label for b in trades.flat_buttons] == ["Nghề Hàn", "Điện công nghiệp", "« Nhóm nghề"]
    (page,) = await an.tap("Nghề Hàn")
    assert page.text.startswith("Nghề Hàn") and "Học gì" in page.text
    labels = [b.label for b in page.flat_buttons]
    assert "🏫 Trường đào tạo" in labels and "🔔 Đăng ký nhận tin" in labels and "« Nhóm nghề" in labels
    (schools,) = await an.tap("Trường đào tạo")
    assert [b.label for b in schools.flat_buttons][:2] == ["Trường Cao đẳng Thử nghiệm A",
                                                           "Trường Trung cấp Thử nghiệm B"]
    (school,) = await an.tap("Thử nghiệm A")
    assert "Địa bàn: Hải Phòng" in school.text and "Trung cấp, Cao đẳng" in school.text
    website = [b for b in school.flat_buttons if b.url]
    assert website and website[0].url == "https://example.org/a"
    (topics,) = await an.tap("Đăng ký nhận tin")
    assert "Chọn chủ đề" in topics.text


async def test_school_browser_by_former_province(an: Person):
    (where,) = await an.press("m:truong")
    assert [b.label for b in where.flat_buttons][:2] == ["Hải Phòng", "Hải Dương (cũ)"]
    (listing,) = await an.tap("Hải Dương")
    assert "Hải Dương (cũ)" in listing.text and "trang 1/1" in listing.text
    (school,) = await an.tap("Thử nghiệm B")
    assert "Kỹ thuật chế biến món ăn" in school.text
    assert not [b for b in school.flat_buttons if b.url]  # no website given: no link invented
    (trade,) = await an.tap("Kỹ thuật chế biến")
    assert trade.text.startswith("Kỹ thuật chế biến món ăn")


async def test_stale_browser_buttons(an: Person):
    for stale in ("n:nghe.khong_co", "t:truong.khong_co", "nt:nghe.khong_co"):
        (reply,) = await an.press(stale)
        assert "không còn nữa" in reply.text
    (groups,) = await an.press("ng:khong_co")
    assert "nhóm nghề" in groups.text
    (where,) = await an.press("tr:sao_hoa:1")
    assert "ở đâu" in where.text


def test_long_ids_are_shortened_and_found_again():
    long_id = "nghe." + "cong_nghe_thong_tin_ung_dung_phan_mem_may_tinh" * 2
    token = ref(long_id)
    assert token.startswith("~") and len(TradeSchools(token).pack().encode()) <= MAX_PAYLOAD
    assert unref(token, ["nghe.han", long_id]) == long_id
    assert unref("nghe.han", ["nghe.han"]) == "nghe.han"
    assert unref("nghe.xyz", ["nghe.han"]) is None
