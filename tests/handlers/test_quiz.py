"""The interest quiz on the shipped content: scoring, the flow (buttons, typed answers, going back,
cancelling, resuming after a restart), the result and "xem lại kết quả", /xoadulieu, /thongke, the Zalo
Bot's numbers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.channels.numbered import render
from bot.content import RIASEC
from bot.storage.db import create_engine
from bot.storage.models import QuizRun
from bot.storage.repo import Store
from handlers import build_handler, quiz
from handlers.services import Services
from tests.conftest import CONTENT_DIR
from tests.fakes import FakeHolder
from tests.handlers.conftest import Person


@pytest.fixture
def holder() -> FakeHolder:
    return FakeHolder(CONTENT_DIR)


@pytest.fixture
def the_quiz(holder):
    assert holder.base.quiz is not None
    return holder.base.quiz


def answers_for(the_quiz, liked: set[str]) -> dict[str, str]:
    """Thích on the items of the `liked` types, Không thích on the others."""
    return {item.id: "thich" if item.type in liked else "khong_thich" for item in the_quiz.items}


def test_realistic_only_ranks_realistic_first(the_quiz, holder):
    scores = quiz.score(the_quiz, answers_for(the_quiz, {"R"}))
    per_type = len(the_quiz.items_of("R")) * 2
    assert scores["R"] == (per_type, per_type)
    assert all(scores[c] == (0, per_type) for c in RIASEC if c != "R")
    top = quiz.strongest(scores)
    assert top[0] == "R"
    trades = quiz.suggest(holder.base, scores, top)
    assert 3 <= len(trades) <= 5
    assert all(t.riasec[0] == "R" for t in trades)  # the trades whose first code is R come first


def test_two_types_and_ties(the_quiz, holder):
    answers = answers_for(the_quiz, {"S", "E"})
    scores = quiz.score(the_quiz, answers)
    top = quiz.strongest(scores)
    assert top[:2] == ["S", "E"] and len(top) == 2  # the third is far behind: not shown
    suggested = quiz.suggest(holder.base, scores, top)
    assert suggested[0].riasec[:2] == ("S", "E")  # the trade coded S, E first fits best
    unsure = {item.id: "khong_chac" for item in the_quiz.items}
    flat = quiz.score(the_quiz, unsure)
    assert quiz.is_flat(flat) and len(quiz.strongest(flat)) == 3
    assert 3 <= len(quiz.suggest(holder.base, flat, quiz.strongest(flat))) <= 5


def test_unknown_items_and_choices_are_ignored(the_quiz):
    scores = quiz.score(the_quiz, {"zz": "thich", the_quiz.items[0].id: "nope"})
    assert all(points == 0 for points, _ in scores.values())


async def test_whole_quiz_by_buttons_then_result_kept(an: Person, store, the_quiz, holder):
    (first,) = await an.say("/tracnghiem")
    assert "Câu 1/" in first.text and the_quiz.items[0].text in first.text
    assert [b.label for b in first.flat_buttons] == ["Thích", "Không chắc", "Không thích"]
    liked = {"R"}
    for n, item in enumerate(the_quiz.items, start=1):
        assert f"Câu {n}/{len(the_quiz.items)}" in an.text
        if n > 1:
            assert "⬅️ Câu trước" in [b.label for b in an.last[0].flat_buttons]
        await an.tap("Thích" if item.type in liked else "Không thích")
    (result,) = an.last
    assert "Kỹ thuật (R): 6/6" in result.text
    assert "chỉ là gợi ý" in result.text
    trade_buttons = [b for b in result.flat_buttons if b.payload and b.payload.startswith("n:")]
    assert 3 <= len(trade_buttons) <= 5
    assert all(b.label in {t.title for t in holder.base.trades.values()} for b in trade_buttons)
    payloads = [b.payload for b in result.flat_buttons]
    assert "tv" in payloads and "dt" in payloads and "qz:1" in payloads
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).flow is None
    run = await store.quiz.latest(user.id)
    assert run is not None and run.top.startswith("R")

    (page,) = await an.press(trade_buttons[0].payload)  # the trade's page, from there to its schools
    assert any(b.payload.startswith("nt:") for b in page.flat_buttons if b.payload)
    (again,) = await an.say("xem lại kết quả")
    assert "Kỹ thuật (R): 6/6" in again.text and "Kết quả lần làm bài ngày 01/09/2026" in again.text
    (cmd,) = await an.say("/ketqua")
    assert cmd.text == again.text


async def test_typed_answers_back_and_stray_questions(an: Person, store, the_quiz):
    await an.say("/tracnghiem")
    await an.say("thích")
    assert "Câu 2/" in an.text
    await an.say("Không chắc")
    assert "Câu 3/" in an.text
    (back,) = await an.tap("Câu trước")
    assert "Câu 2/" in back.text
    user = await store.users.get(an.ref)
    state = await store.users.get_state(user.id)
    assert list(state.data["answers"]) == [the_quiz.items[0].id]
    await an.say("câu trước")
    assert "Câu 1/" in an.text and (await store.users.get_state(user.id)).data["answers"] == {}
    (first_again,) = await an.press("qb")
    assert "câu đầu tiên" in first_again.text and "Câu 1/" in first_again.text
    await an.say("học nghề hàn ở đâu")  # a question in the middle: answered, and the quiz goes on
    assert "Bạn đang làm bài trắc nghiệm" in an.last[-1].text and "Câu 1/" in an.last[-1].text
    assert (await store.users.get_state(user.id)).flow == "quiz"


async def test_stale_button_and_cancel(an: Person, store, the_quiz):
    (first,) = await an.say("/tracnghiem")
    old = first.flat_buttons[0].payload
    await an.press(old)
    (stale,) = await an.press(old)  # the first question's button again: the current question is asked
    assert "đã qua" in stale.text and "Câu 2/" in stale.text
    (forged,) = await an.press(f"qa:{the_quiz.items[1].id}:bogus")
    assert "Câu 2/" in forged.text
    (resumed,) = await an.say("/tracnghiem")
    assert "làm dở" in resumed.text and "Câu 2/" in resumed.text
    assert "🔁 Làm lại từ đầu" in [b.label for b in resumed.flat_buttons]
    (cancelled,) = await an.say("/huybo")
    assert "Đã dừng bài trắc nghiệm" in cancelled.text
    user = await store.users.get(an.ref)
    assert (await store.users.get_state(user.id)).flow is None
    (late,) = await an.press(old)
    assert "không ở trong bài trắc nghiệm" in late.text
    (none,) = await an.say("/ketqua")
    assert "chưa có kết quả" in none.text


async def test_resume_after_restart(db_url, clock, hsettings, holder, messenger, the_quiz):
    async def session():
        store = Store(create_engine(db_url), clock)
        services = Services(settings=hsettings, store=store, content=holder, clock=clock, messenger=messenger)
        return store, Person(build_handler(services), "2002", "Lan")

    from bot.storage.db import migrate
    first_store, lan = await session()
    await migrate(first_store.engine)
    await lan.say("/tracnghiem")
    for _ in range(5):
        await lan.tap("Thích")
    assert "Câu 6/" in lan.text
    await first_store.close()
    await first_store.engine.dispose()

    second_store, lan_again = await session()  # a new process on the same database
    try:
        (resumed,) = await lan_again.say("/tracnghiem")
        assert "làm dở" in resumed.text and "Câu 6/" in resumed.text
        for _ in range(len(the_quiz.items) - 5):
            await lan_again.tap("Không chắc")
        assert "Kết quả trắc nghiệm" in lan_again.text
        user = await second_store.users.get(lan_again.ref)
        run = await second_store.quiz.latest(user.id)
        counts = await second_store.quiz.counts()
        assert run is not None and (counts.started, counts.finished) == (1, 1)
    finally:
        await second_store.close()
        await second_store.engine.dispose()


async def test_zalo_bot_numbers_a_question(an: Person, the_quiz):
    await an.say("/tracnghiem")
    await an.tap("Thích")
    rendered = render(an.last[0])
    assert "1. Thích\n2. Không chắc\n3. Không thích\n4. ⬅️ Câu trước" in rendered.text
    assert "Câu 2/" in rendered.text and "Bạn trả lời 1, 2, 3 hoặc 4 để chọn." in rendered.text
    assert rendered.menu.pick(4) == "qb" and rendered.menu.pick(1) == f"qa:{the_quiz.items[1].id}:thich"


async def test_faq_answer_offers_the_quiz(an: Person):
    (answer,) = await an.say("không biết nên học nghề gì")
    assert "qz" in [b.payload for b in answer.flat_buttons]
    (first,) = await an.tap("Trắc nghiệm chọn nghề")
    assert "Câu 1/" in first.text


async def test_privacy_deletes_results_and_staff_counts(an: Person, staff: Person, store, the_quiz):
    await an.say("/tracnghiem")
    for _ in the_quiz.items:
        await an.tap("Thích")
    await an.say("/tracnghiem")  # a second run, started and left
    (stats,) = await staff.say("/thongke")
    assert "Trắc nghiệm chọn nghề hôm nay: 2 lượt bắt đầu, 1 lượt hoàn thành" in stats.text
    assert "Kỹ thuật (R) 1" in stats.text
    (shown,) = await an.say("/xoadulieu")
    assert "Kết quả trắc nghiệm chọn nghề: 1" in shown.text
    await an.tap("Xóa hết")
    assert "Đã xóa" in an.text
    async with store.session() as s:
        rows = (await s.execute(sa.select(QuizRun))).scalars().all()
    assert len(rows) == 2 and all(r.user_id is None and r.scores is None for r in rows)
    counts = await store.quiz.counts()
    assert (counts.started, counts.finished) == (2, 1)  # anonymous counts stay
    (none,) = await an.say("xem lại kết quả")
    assert "chưa có kết quả" in none.text


@pytest.mark.parametrize("question", ["em khong biet nen hoc nghe gi", "không biết nên học nghề gì",
                                      "Em không biết nên học nghề gì ạ", "em nên học nghề gì",
                                      "làm trắc nghiệm chọn nghề"])
async def test_the_real_engine_leads_not_knowing_what_to_learn_to_the_quiz(services, question):
    from dataclasses import replace

    from bot.content.holder import ContentHolder

    handle = build_handler(replace(services, content=ContentHolder(CONTENT_DIR)))
    hoa = Person(handle, "3003", "Hoa")
    await hoa.say(question)
    (reply,) = hoa.last
    assert "qz" in [b.payload for b in reply.flat_buttons], reply.text
    if "chưa có câu trả lời chắc chắn" in reply.text:
        assert "trắc nghiệm chọn nghề" in reply.text
