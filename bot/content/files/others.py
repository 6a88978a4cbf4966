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
    data = state.read_file(FILE)
    if data is None:
        return
    report = state.report(FILE)
    if not isinstance(data, dict):
        report.problem(1, "expected a mapping with a 'questions:' list")
        return
    found = report.validate(OtherSubjects, data)
    if found is not None:
        state.base.others = found.questions
