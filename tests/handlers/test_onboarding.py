"""/start, roles, the age question, the main menu, /vaitro, /trogiup, /huybo."""

from __future__ import annotations

from bot.types import Incoming, UserRef
from tests.handlers.conftest import Person


async def test_first_start_welcomes_notices_and_asks_who(an: Person, store):
    welcome, who = await an.say("/start")
    assert "«Giáo dục nghề nghiệp: Thực học - Thực hành - Vững khởi nghiệp, sáng tương lai»" in welcome.text
    assert welcome.text.count("\n🔒") == 1 and "/xoadulieu" in welcome.text
    assert who.text == "Bạn là ai?"
    assert [b.payload for b in who.flat_buttons] == [
        "role:hs_thcs",
        "role:hs_thpt",
        "role:phu_huynh",
        "role:nguoi_lao_dong",
        "role:bo_doi",
        "role:doanh_nghiep",
    ]
    user = await store.users.get(an.ref)
    state = await store.users.get_state(user.id)
    assert (state.flow, state.step, user.consent) == ("onboard", "role", "accepted")


async def test_parent_role_goes_straight_to_the_menu(an: Person, store):
    await an.say("/start")
    (menu,) = await an.tap("Phụ huynh")
    assert "Phụ huynh" in menu.text
    assert [b.payload for b in menu.flat_buttons] == ["m:faq", "m:nghe", "m:truong", "m:tin", "qz", "m:tv"]
    user = await store.users.get(an.ref)
    assert user.role == "phu_huynh" and (await store.users.get_state(user.id)).flow is None


async def test_student_under_16_is_told_about_parents(an: Person, store):
    await an.say("/start")
    (age,) = await an.tap("THCS")
    assert "Bạn bao nhiêu tuổi?" in age.text
    (menu,) = await an.tap("Dưới 16")
    assert "cha mẹ" in menu.text
    user = await store.users.get(an.ref)
    assert (user.role, user.under_16, user.consent) == ("hs_thcs", True, "parent_pending")


async def test_typed_answers_during_onboarding(an: Person, store):
    await an.say("/start")
    (age,) = await an.say("học sinh thpt")
    assert "tuổi" in age.text
    (menu,) = await an.say("17")
    assert "Cảm ơn" in menu.text
    user = await store.users.get(an.ref)
    assert (user.role, user.under_16, user.consent) == ("hs_thpt", False, "accepted")


async def test_a_question_during_onboarding_is_answered_not_blocked(an: Person, store):
    await an.say("/start")
    (answer,) = await an.say("học phí học nghề bao nhiêu")
    assert "học phí học nghề" in answer.text
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).flow is None
    # The role buttons of the first message still work later.
    (menu,) = await an.press("role:doanh_nghiep")
    assert "Doanh nghiệp" in menu.text


async def test_returning_user_gets_welcome_back_and_can_change_role(an: Person, store):
    await an.say("/start")
    await an.tap("Người lao động")
    (back,) = await an.say("/start")
    assert "Chào mừng bạn quay lại" in back.text and "Người lao động" in back.text
    (again,) = await an.tap("Đổi vai trò")
    assert "chọn lại vai trò" in again.text
    await an.tap("Bộ đội")
    assert (await store.users.get(an.ref)).role == "bo_doi"
    (roles,) = await an.say("/vaitro")
    assert len(roles.flat_buttons) == 6


async def test_follow_event_is_greeted_and_unfollow_marks_inactive(handle, store):
    ref = UserRef("zalo_oa", "oa-1")
    replies = await handle(Incoming(ref, event="follow"))
    assert "Bạn là ai?" in replies[-1].text
    assert await handle(Incoming(ref, event="unfollow")) == []
    user = await store.users.get(ref)
    assert not user.active and user.inactive_reason == "unfollowed"
    await handle(Incoming(ref, text="xin chào"))
    assert (await store.users.get(ref)).active  # writing again makes them active again


async def test_menu_buttons(an: Person):
    (faq,) = await an.press("m:faq")
    assert "Ví dụ" in faq.text
    (groups,) = await an.press("m:nghe")
    assert "nhóm nghề" in groups.text
    (where,) = await an.press("m:truong")
    assert "Hải Phòng" in [b.label for b in where.flat_buttons]
    (topics,) = await an.press("m:tin")
    assert "Chọn chủ đề" in topics.text
    (ask,) = await an.press("m:tv")
    assert "gõ câu hỏi" in ask.text
    (menu,) = await an.say("/menu")
    assert len(menu.flat_buttons) == 6


async def test_help_cancel_and_unknown(an: Person, staff: Person, handle):
    (help_,) = await an.say("/trogiup")
    assert "/dangky" in help_.text and "/xoadulieu" in help_.text and "/thongke" not in help_.text
    staff_private = Person(handle, "42", "Cô Lan")
    (help_staff,) = await staff_private.say("/trogiup")
    assert "/thongke" in help_staff.text
    (nothing,) = await an.say("/huybo")
    assert "không ở trong thao tác nào" in nothing.text
    await an.say("/xoadulieu")
    (cancelled,) = await an.say("/huybo")
    assert "Đã hủy thao tác" in cancelled.text
    (unknown,) = await an.say("/abcxyz")
    assert "chưa biết lệnh /abcxyz" in unknown.text
    (stale,) = await an.press("zz:1")
    assert "Nút này đã cũ" in stale.text
    (stale,) = await an.press("fb:notanumber")
    assert "Nút này đã cũ" in stale.text


async def test_start_typed_as_words(an: Person):
    welcome, who = await an.say("Bắt đầu")  # on any channel; on the Zalo Bot nobody types a slash
    assert "Thực học - Thực hành" in welcome.text and who.text == "Bạn là ai?"
    _welcome_back, who = await an.say("bat dau!")
    assert who.text == "Bạn là ai?"
