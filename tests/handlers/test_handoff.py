"""/tuvan: the case goes to the staff chat with context, staff replies are relayed, the case is explicit
state (the bot does not answer over the staff while it is open), and either side can close it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.config import Settings
from handlers import build_handler
from handlers.services import Services
from tests.handlers.conftest import STAFF_CHAT, Person


async def test_round_trip(an: Person, staff: Person, messenger, store):
    await an.say("/start")
    await an.tap("Phụ huynh")
    await an.say("học phí học nghề bao nhiêu")
    (ask,) = await an.say("/tuvan")
    assert "gõ câu hỏi" in ask.text
    (sent,) = await an.say("Con tôi học lớp 9, nên học nghề gì?")
    assert "đã được chuyển tới tư vấn viên" in sent.text and "/huybo" in sent.text
    (card,) = messenger.to(STAFF_CHAT)
    assert "Yêu cầu tư vấn #1" in card.text and "Con tôi học lớp 9" in card.text
    assert "Nguyễn An · Phụ huynh · telegram:1001" in card.text
    assert "học phí học nghề bao nhiêu (bot đã trả lời)" in card.text

    # The case is open: text goes to the staff, not to the engine.
    (fwd,) = await an.say("Cháu thích sửa xe máy")
    assert "chuyển thêm" in fwd.text
    assert "Cháu thích sửa xe máy" in messenger.to(STAFF_CHAT)[-1].text
    case = await store.cases.open_for((await store.users.get(an.ref)).id)
    assert case is not None and case.staff_message_id == "1001"

    # Staff reply to the follow-up message (id 1002) is relayed to the person.
    (ack,) = await staff.say("Chị nên cho cháu học nghề Công nghệ ô tô.", reply_to="1002")
    assert "Đã chuyển câu trả lời" in ack.text
    relayed = messenger.to("1001")[-1]
    assert relayed.text == "💬 Tư vấn viên trả lời:\nChị nên cho cháu học nghề Công nghệ ô tô."
    assert relayed.flat_buttons[0].payload == "tvx"

    (closed,) = await staff.say("/dong 1")
    assert "Đã đóng yêu cầu #1" in closed.text
    assert "kết thúc cuộc trao đổi" in messenger.to("1001")[-1].text
    (answer,) = await an.say("học phí học nghề bao nhiêu")
    assert answer.text.startswith("Câu trả lời thử")
    assert (await store.users.get_state((await store.users.get(an.ref)).id)).flow is None


async def test_user_closes_with_huybo(an: Person, messenger):
    await an.say("/tuvan khi nào tuyển sinh ạ")
    (closed,) = await an.say("/huybo")
    assert "Đã kết thúc trao đổi" in closed.text
    assert "Người hỏi đã kết thúc yêu cầu #1" in messenger.to(STAFF_CHAT)[-1].text
    (answer,) = await an.say("khi nào tuyển sinh")
    assert "tuyển sinh" in answer.text and "chuyển" not in answer.text


async def test_from_the_no_answer_button(an: Person, messenger, store):
    await an.say("xe buýt số mấy đến trường")
    (told,) = await an.press(an.button("tư vấn viên"))
    assert "đã được chuyển" in told.text
    assert "xe buýt số mấy đến trường" in messenger.to(STAFF_CHAT)[0].text
    (again,) = await an.press("m:tv")
    assert "đang có một câu hỏi chờ" in again.text


async def test_staff_chat_chatter_and_unknown_replies(an: Person, staff: Person, messenger):
    assert await staff.say("Mọi người ơi họp lúc 2 giờ nhé") == []
    assert await staff.say("ok", reply_to="999") == []  # a reply to a colleague
    (unknown,) = await staff.say("trả lời", reply_to="999", reply_to_self=True)
    assert "Không tìm thấy yêu cầu" in unknown.text
    (usage,) = await staff.say("/dong")
    assert "Cách dùng" in usage.text
    (missing,) = await staff.say("/dong 77")
    assert "Không có yêu cầu #77" in missing.text


async def test_non_staff_cannot_close_cases(an: Person, store):
    await an.say("/tuvan câu hỏi")
    (refused,) = await an.say("/dong 1")
    assert "chỉ dành cho cán bộ" in refused.text
    assert (await store.cases.get(1)).status == "open"


async def test_no_staff_chat_configured(db_url, store, holder, clock, messenger):
    settings = Settings.load(database_url=db_url, _env_file=None)
    services = Services(settings=settings, store=store, content=holder, clock=clock, messenger=messenger)
    an = Person(build_handler(services), "1001")
    (reply,) = await an.say("/tuvan cho hỏi")
    assert "chưa có tư vấn viên trực tuyến" in reply.text
    (reply,) = await an.press("m:tv")
    assert "chưa có tư vấn viên trực tuyến" in reply.text


async def test_staff_chat_unreachable(an: Person, messenger, store):
    messenger.fail_for.add(STAFF_CHAT)
    (reply,) = await an.say("/tuvan cho hỏi")
    assert "chưa chuyển được" in reply.text
    user = await store.users.get(an.ref)
    assert await store.cases.open_for(user.id) is None
    assert (await store.users.get_state(user.id)).flow is None


async def test_office_hours_in_the_promise(an: Person, clock):
    clock.set(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))  # Tuesday 10:00 in Hải Phòng
    (during,) = await an.say("/tuvan câu một")
    assert "đang trong giờ làm việc" in during.text
    await an.say("/huybo")
    clock.set(datetime(2026, 9, 5, 3, 0, tzinfo=UTC))  # Saturday
    (weekend,) = await an.say("/tuvan câu hai")
    assert "ngoài giờ làm việc (07:30-17:00, thứ Hai - thứ Sáu)" in weekend.text


async def test_relay_after_the_person_deleted_their_data(an: Person, staff: Person, messenger):
    await an.say("/tuvan câu hỏi")
    await an.say("/xoadulieu")
    await an.tap("Xóa hết")
    assert "người hỏi đã xóa dữ liệu" in messenger.to(STAFF_CHAT)[-1].text
    (unknown,) = await staff.say("trả lời muộn", reply_to="1001", reply_to_self=True)
    assert "Không tìm thấy yêu cầu" in unknown.text
