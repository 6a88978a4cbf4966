"""trades.yaml: the trade groups and the trades; each trade is also an answerable entry."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

from bot.content.models import LEVELS, MAX_ANSWER, RIASEC, Entry, Group, Trade
from bot.content.render import render_trade
from bot.content.schema import (
    Day,
    Id,
    OptDay,
    OptText,
    OptTextList,
    Questions,
    Schema,
    Text,
    context,
    ident,
    one_of,
    required_text,
    soft,
    text_list,
)
from bot.content.state import LoadState
from bot.content.yamlio import line_of

FILE = "trades.yaml"
QUIZ_FILE = "quiz.yaml"
MAX_RIASEC = 3


def _group(value: Any, info: ValidationInfo) -> str:
    value = required_text(value, info)
    if value not in context(info, "groups", ()):
        soft(info, f"unknown group {value!r}")
    return value


def _riasec(value: Any, info: ValidationInfo) -> tuple[str, ...]:
    """1 to 3 distinct Holland codes, strongest first; absent is checked against quiz.yaml later."""
    if value is None:
        if context(info, "quiz"):
            soft(info, "missing field 'riasec' (every trade needs its RIASEC codes when quiz.yaml exists)")
        return ()
    codes = tuple(v.strip().upper() for v in value if isinstance(v, str)) if isinstance(value, list) else ()
    if (not isinstance(value, list) or len(codes) != len(value) or not 1 <= len(codes) <= MAX_RIASEC
            or len(set(codes)) != len(codes) or not set(codes) <= set(RIASEC)):
        soft(info, f"'riasec' must be a list of 1 to {MAX_RIASEC} distinct codes from {', '.join(RIASEC)} "
                   f"(got {value!r})")
        return ()
    return codes


class GroupItem(Schema):
    """One trade group."""

    id: Id
    label: Text


TradeId = ident(prefix="nghe.")
GroupRef = Annotated[str, BeforeValidator(_group)]
Phrases = text_list()
Levels = text_list(each=one_of(LEVELS, "level"))
Riasec = Annotated[tuple[str, ...], BeforeValidator(_riasec), Field(default=None, validate_default=True)]


class TradeItem(Schema):
    """One trade as written in trades.yaml."""

    id: TradeId
    title: Text
    group: GroupRef
    summary: Text
    learn: Phrases
    jobs: Phrases
    suits: OptText
    levels: Levels
    riasec: Riasec
    questions: Questions
    source: Text
    reviewed: Day
    related: OptTextList
    tags: OptTextList
    valid_until: OptDay


def load(state: LoadState) -> None:
    """Groups, then trades (after schools.yaml and texts.yaml: a trade's page lists its schools)."""
    path = state.root / FILE
    if not path.exists():
        return
    data = state.read(path)
    if data is None:
        return
    base = state.base
    report = state.report(FILE)
    quiz = (state.root / QUIZ_FILE).exists()
    for item in report.items(data, "groups"):
        group = report.validate(GroupItem, item, warn_unknown=False)
        if group is not None:
            base.groups[group.id] = Group(group.id, group.label)
    for item in report.items(data, "trades"):
        found = report.validate(TradeItem, item, groups=base.groups, quiz=quiz)
        line = line_of(item)
        if found is None or not state.claim(report, found.id, line):
            continue
        trade = Trade(found.id, found.title, found.group, found.summary, found.learn, found.jobs,
                      found.suits or "", found.levels, found.riasec)
        base.trades[trade.id] = trade
        answer = render_trade(trade, base.schools_for(trade.id), base.texts)
        if len(answer) > MAX_ANSWER:
            report.problem(line, f"rendered answer of {trade.id!r} is {len(answer)} characters "
                                 f"(at most {MAX_ANSWER}); shorten its lists")
        state.add_entry(report, Entry(trade.id, "trade", trade.title, found.questions, answer, found.source,
                                      found.reviewed, found.related, found.tags, found.valid_until, report.file,
                                      line))
