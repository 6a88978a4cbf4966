"""topics.yaml: the subscription topics and their labels (the file is required)."""

from __future__ import annotations

from bot.content.models import Topic
from bot.content.problems import Problem
from bot.content.schema import Id, OptText, Schema, Text
from bot.content.state import LoadState
from bot.content.yamlio import line_of

FILE = "topics.yaml"


class TopicItem(Schema):
    """One topic as written in topics.yaml."""

    id: Id
    label: Text
    description: OptText


def load(state: LoadState) -> None:
    """The topics; a missing file is an error (subscriptions and campaigns need them)."""
    path = state.root / FILE
    if not path.exists():
        state.base.problems.append(Problem(FILE, 0, "missing file: the subscription topics"))
        return
    data = state.read(path)
    if data is None:
        return
    report = state.report(FILE)
    topics = state.base.topics
    for item in report.items(data, "topics"):
        topic = report.validate(TopicItem, item, warn_unknown=False)
        if topic is None:
            continue
        if topic.id in topics:
            report.problem(line_of(item), f"duplicate topic {topic.id!r}")
        topics[topic.id] = Topic(topic.id, topic.label, topic.description or "")
