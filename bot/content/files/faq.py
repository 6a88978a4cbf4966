"""faq/*.yaml: the FAQ entries, one file per area."""

from __future__ import annotations

from bot.content.models import MAX_ANSWER, Entry
from bot.content.schema import Day, Id, OptDay, OptTextList, Questions, Schema, Text, text
from bot.content.state import LoadState
from bot.content.yamlio import line_of

Answer = text(MAX_ANSWER)


class FaqItem(Schema):
    """One FAQ entry as written in the file."""

    id: Id
    title: Text
    questions: Questions
    answer: Answer
    source: Text
    reviewed: Day
    related: OptTextList
    tags: OptTextList
    valid_until: OptDay


def load(state: LoadState) -> None:
    """Every faq/*.yaml file, in name order."""
    for path in sorted((state.root / "faq").glob("*.yaml")):
        data = state.read(path)
        if data is None:
            continue
        report = state.report(str(path.relative_to(state.root)))
        for item in report.items(data, "entries"):
            faq = report.validate(FaqItem, item)
            line = line_of(item)
            if faq is None or not state.claim(report, faq.id, line):
                continue
            state.add_entry(report, Entry(faq.id, "faq", faq.title, faq.questions, faq.answer, faq.source,
                                          faq.reviewed, faq.related, faq.tags, faq.valid_until, report.file,
                                          line))
