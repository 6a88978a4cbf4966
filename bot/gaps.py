"""The unanswered-questions report: declined questions and 👎 answers, grouped by similar wording, with
counts per week and the entry that came closest. Used by `chonnghe gaps` and the console's queue page."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.engine.core import filler, tokens
from bot.storage.models import QuestionLog

log = logging.getLogger(__name__)

SIMILAR = 80  # rapidfuzz token-set ratio (0-100) of the folded content words to join a group


@dataclass(frozen=True)
class Asked:
    """One logged question the report considers."""

    text: str
    asked_at: datetime
    answered: bool
    content_id: str | None  # what the bot answered (for a 👎), if anything
    feedback: int | None


@dataclass
class GapGroup:
    """Questions worded alike: how many, per ISO week, some examples, and the entry that came closest."""

    key: str  # the folded content words of the group's first question
    count: int = 0
    declined: int = 0
    thumbs_down: int = 0
    weeks: Counter = field(default_factory=Counter)  # "2026-W48" -> count
    texts: Counter = field(default_factory=Counter)
    answered_ids: Counter = field(default_factory=Counter)  # what the bot answered when it got a 👎
    candidate: str | None = None  # the engine's best candidate for the most common wording
    candidate_probability: float = 0.0

    @property
    def example(self) -> str:
        """The most common wording (first seen on ties)."""
        return self.texts.most_common(1)[0][0]


def wording(text: str) -> str:
    """The folded content words of a question (filler dropped), the form questions are grouped by."""
    toks = tokens(text)
    return " ".join(t for t in toks if not filler(t)) or " ".join(toks)


def week_of(at: datetime) -> str:
    year, week, _ = at.isocalendar()
    return f"{year}-W{week:02d}"


def group_questions(rows: Iterable[Asked], engine=None, similar: int = SIMILAR) -> list[GapGroup]:
    """Group questions by similar wording, largest group first (then the most recent). With `engine`
    (an AnswerEngine), each group gets the entry its most common wording came closest to."""
    groups: list[GapGroup] = []
    by_key: dict[str, GapGroup] = {}
    last: dict[int, datetime] = {}
    for row in sorted(rows, key=lambda r: r.asked_at):
        key = wording(row.text)
        if not key:
            continue
        group = by_key.get(key)
        if group is None:
            scored = [(fuzz.token_set_ratio(key, g.key), n) for n, g in enumerate(groups)]
            best = max(scored, default=(0.0, -1))
            if best[0] >= similar:
                group = groups[best[1]]
            else:
                group = GapGroup(key)
                groups.append(group)
            by_key[key] = group
        group.count += 1
        group.declined += not row.answered
        group.thumbs_down += row.feedback == -1
        group.weeks[week_of(row.asked_at)] += 1
        group.texts[row.text.strip()] += 1
        if row.answered and row.content_id:
            group.answered_ids[row.content_id] += 1
        last[id(group)] = row.asked_at
    if engine is not None:
        for group in groups:
            match = engine.answer(group.example)
            if match.candidates:
                group.candidate, group.candidate_probability = match.candidates[0][0], match.candidates[0][1]
            elif match.id:
                group.candidate, group.candidate_probability = match.id, match.score
    groups.sort(key=lambda g: (-g.count, -last[id(g)].timestamp(), g.key))
    return groups


async def load_gaps(db: AsyncEngine, since: datetime | None = None) -> list[Asked]:
    """Declined questions and answers marked 👎 since `since` (all when None), from the question log."""
    query = sa.select(QuestionLog).where(sa.or_(QuestionLog.answered.is_(False), QuestionLog.feedback == -1))
    if since is not None:
        query = query.where(QuestionLog.asked_at >= since)
    async with AsyncSession(db) as session:
        rows = (await session.execute(query.order_by(QuestionLog.asked_at))).scalars().all()
    return [Asked(r.text, r.asked_at, r.answered, r.content_id, r.feedback) for r in rows]


async def unanswered_report(db: AsyncEngine, since: datetime | None = None, engine=None) -> list[GapGroup]:
    """The report: `load_gaps` grouped by `group_questions`."""
    return group_questions(await load_gaps(db, since), engine)


def to_text(groups: list[GapGroup], limit: int = 50, examples: int = 3) -> str:
    """The report as text (what `chonnghe gaps` prints)."""
    if not groups:
        return "No declined or 👎 questions in this period.\n"
    total = sum(g.count for g in groups)
    lines = [f"{total} questions in {len(groups)} groups (declined / 👎), largest first:", ""]
    for n, g in enumerate(groups[:limit], 1):
        weeks = ", ".join(f"{w}: {c}" for w, c in sorted(g.weeks.items()))
        lines.append(f"{n}. {g.count}× (declined {g.declined}, 👎 {g.thumbs_down})  {g.example}")
        lines.append(f"   weeks: {weeks}")
        for text, c in g.texts.most_common(examples + 1)[1:examples + 1]:
            lines.append(f"   also: {text}" + (f" ({c}×)" if c > 1 else ""))
        if g.candidate:
            lines.append(f"   closest entry: {g.candidate} (probability {g.candidate_probability:.2f})")
        if g.answered_ids:
            lines.append("   answered with (👎): " + ", ".join(f"{i} {c}×" for i, c in g.answered_ids.most_common()))
    if len(groups) > limit:
        lines.append(f"... and {len(groups) - limit} smaller groups")
    return "\n".join(lines) + "\n"
