"""Free text to the answer engine: answers with related entries and feedback, the no-answer path,
bad input, and the question log."""

from __future__ import annotations

import sqlalchemy as sa

from bot.storage.models import QuestionLog
from tests.handlers.conftest import Person


async def questions(store) -> list[QuestionLog]:
    await store.flush()  # the answer does not wait for the question log's commit
    async with store.session() as s:
        return list((await s.execute(sa.select(QuestionLog).order_by(QuestionLog.id))).scalars())


async def test_answer_has_source_related_and_feedback(an: Person, store):
    (answer,) = await an.say("Học phí học nghề bao nhiêu?")
    assert answer.text.startswith("Câu trả lời thử về học phí")
    assert "Nguồn: Dữ liệu kiểm thử (cập nhật 01/11/2026)" in answer.text
    payloads = [b.payload for b in answer.flat_buttons]
    assert payloads[:2] == ["a:test.tuyen_sinh", "a:nghe.han"]
    (q,) = await questions(store)
    assert payloads[2:] == ["fb:test.hoc_phi:1", "fb:test.hoc_phi:0"]
    assert (q.answered, q.content_id, q.text) == (True, "test.hoc_phi", "Học phí học nghề bao nhiêu?")
    assert q.normalized == "hoc phi hoc nghe bao nhieu"


async def test_bot_help_entries_have_no_source_line(an: Person):
    (answer,) = await an.say("dang ky nhan tin")
    assert "Gõ /dangky" in answer.text and "Nguồn" not in answer.text


async def test_feedback_is_recorded(an: Person, store):
    await an.say("học phí học nghề bao nhiêu")
    (thanks,) = await an.tap("Hữu ích")
    assert "Cảm ơn" in thanks.text
    await an.say("khi nào tuyển sinh")
    (sorry,) = await an.tap("Chưa đúng")
    assert "tư vấn viên" in sorry.text and sorry.flat_buttons[0].payload == "tv:q"
    first, second = await questions(store)
    assert (first.feedback, second.feedback) == (1, -1)


async def test_feedback_on_someone_elses_question_is_not_recorded(an: Person, handle, store):
    await an.say("học phí học nghề bao nhiêu")
    mallory = Person(handle, "666")
    (thanks,) = await mallory.press("fb:test.hoc_phi:0")
    assert "Cảm ơn" in thanks.text
    assert (await questions(store))[0].feedback is None


async def test_no_confident_answer_offers_suggestions_and_counsellor(an: Person, store):
    (reply,) = await an.say("học nghề hàn ở quận nào tốt nhất")
    assert "chưa có câu trả lời chắc chắn" in reply.text and "Có thể bạn muốn hỏi" in reply.text
    payloads = [b.payload for b in reply.flat_buttons]
    assert "a:nghe.han" in payloads
    (q,) = await questions(store)
    assert "tv:q" in payloads and payloads[-1] == "m"
    assert q.answered is False and q.content_id is None
    (entry,) = await an.press("a:nghe.han")
    assert entry.text.startswith("Nghề Hàn")


async def test_greeting_thanks_and_bad_input_are_logged(an: Person, store):
    (hi,) = await an.say("Xin chào")
    assert "Xin chào" in hi.text and len(hi.flat_buttons) == 6
    (thanks,) = await an.say("cảm ơn bot nhiều")
    assert "Không có gì" in thanks.text
    (empty,) = await an.say("!!! ???")
    assert "gõ câu hỏi" in empty.text
    (sticker,) = await an.say("", media=True)
    assert "chỉ đọc được tin nhắn dạng chữ" in sticker.text
    long = "học phí " + "rất dài " * 2000
    (reply,) = await an.say(long)
    assert "chỉ đọc phần đầu" in reply.text
    logged = await questions(store)
    assert [q.text[:12] for q in logged] == ["Xin chào", "cảm ơn bot n", "!!! ???", "học phí rất "]
    assert len(logged[-1].text) == 4000  # truncated by the store, not dropped


async def test_old_or_removed_entry_button(an: Person):
    (gone,) = await an.press("a:khong.con.nua")
    assert "không còn nữa" in gone.text
