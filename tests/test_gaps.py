"""The unanswered-questions report: grouping, weeks, closest entry, the question log query and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import main
from bot.engine import AnswerEngine
from bot.gaps import Asked, group_questions, load_gaps, to_text, week_of
from tests.conftest import BACKENDS, CONTENT_DIR

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, ISO week 48


def asked(text: str, days: float = 0, answered: bool = False, content_id: str | None = None,
          feedback: int | None = None) -> Asked:
    return Asked(text, T0 + timedelta(days=days), answered, content_id, feedback)


def test_similar_wordings_are_one_group_counted_per_week():
    rows = [asked("giá đất Hải Phòng bao nhiêu"), asked("gia dat hai phong bao nhieu a", 2),
            asked("Giá đất ở Hải Phòng bao nhiêu vậy?", 8), asked("thời tiết ngày mai", 1)]
    groups = group_questions(rows)
    assert [g.count for g in groups] == [3, 1]
    land = groups[0]
    assert dict(land.weeks) == {"2026-W48": 2, "2026-W49": 1} and land.declined == 3
    assert land.example == "giá đất Hải Phòng bao nhiêu" and len(land.texts) == 3
    assert week_of(T0) == "2026-W48"


def test_thumbs_down_answers_show_what_was_answered():
    rows = [asked("học phí trường nghề có đắt không", answered=True, content_id="chinhsach.hoc_phi", feedback=-1),
            asked("hoc phi truong nghe co dat khong", 1)]
    (group,) = group_questions(rows)
    assert (group.count, group.declined, group.thumbs_down) == (2, 1, 1)
    assert group.answered_ids == {"chinhsach.hoc_phi": 1}
    text = to_text([group])
    assert "2× (declined 1, 👎 1)" in text and "answered with (👎): chinhsach.hoc_phi 1×" in text


def test_each_group_gets_the_closest_entry():
    from bot.content import load_content

    engine = AnswerEngine.build(load_content(CONTENT_DIR).entries.values())
    (group,) = group_questions([asked("học nghề hàn ra trường làm ở đâu lương bao nhiêu")], engine)
    assert group.candidate == "nghe.han" and 0 < group.candidate_probability <= 1


def test_an_empty_period_says_so():
    assert group_questions([]) == [] and "No declined" in to_text([])


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_the_question_log_gives_declined_and_thumbs_down_since_a_date(store, clock):
    await store.questions.log(None, "telegram", "giá vàng hôm nay", "gia vang hom nay", None, 0.1, False)
    answered = await store.questions.log(None, "telegram", "học hàn ở đâu", "hoc han o dau", "nghe.han", 0.9, True)
    await store.questions.log(None, "zalo_oa", "học may ở đâu", "hoc may o dau", "nghe.may", 0.9, True)
    from sqlalchemy import update

    from bot.storage.models import QuestionLog

    async with store.session() as s:  # a 👎 from a user whose data was since deleted (no user link)
        await s.execute(update(QuestionLog).where(QuestionLog.id == answered).values(feedback=-1))
    clock.advance(days=10)
    await store.questions.log(None, "telegram", "giá đất hôm nay", "gia dat hom nay", None, 0.1, False)
    rows = await load_gaps(store.engine)
    assert sorted(r.text for r in rows) == ["giá vàng hôm nay", "giá đất hôm nay", "học hàn ở đâu"]
    later = await load_gaps(store.engine, clock.now() - timedelta(days=1))
    assert [r.text for r in later] == ["giá đất hôm nay"]


async def test_gaps_command_prints_the_groups(settings, store, capsys, monkeypatch):
    for text in ("giá vàng hôm nay", "gia vang hom nay the nao"):
        await store.questions.log(None, "telegram", text, text, None, 0.1, False)
    monkeypatch.setenv("CHONNGHE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CHONNGHE_CONTENT_DIR", str(CONTENT_DIR))
    import asyncio

    code = await asyncio.to_thread(main, ["gaps", "--since", "2026-01-01"])
    out = capsys.readouterr().out
    assert code == 0 and "2 questions in 1 groups" in out and "giá vàng hôm nay" in out
