"""other_subjects.yaml (optional): questions on other subjects, which no entry answers but which share
the content's words ("điểm chuẩn đại học", "vay tiền mua nhà", "hàn răng"). They are never answered:
the answer engine learns from them what a question it must decline looks like (bot.engine, "other")."""

from __future__ import annotations

from bot.content.schema import Schema, text_list, warn_repeated
from bot.content.state import LoadState

FILE = "other_subjects.yaml"


class OtherSubjects(Schema):
    """The file as written: a list of questions."""

    questions: text_list(min_items=1, whole=warn_repeated)


def load(state: LoadState) -> None:
    """The questions on other subjects; an absent file means none."""
    found = state.mapping_file(FILE, "a 'questions:' list")
    if found is None:
        return
    data, report = found
    others = report.validate(OtherSubjects, data)
    if others is not None:
        state.base.others = others.questions
