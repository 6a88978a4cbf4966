"""Loads and validates one content folder: each file has its own loader (bot.content.files), run here in
the order their cross-references need; every problem carries its file and line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.content.files import campaigns, faq, others, quiz, schools, texts, topics, trades
from bot.content.models import LEVELS, MAX_ANSWER, PROVINCES, ContentBase, Entry, School, Topic, Trade
from bot.content.problems import ContentError, Problem, format_report
from bot.content.render import render_trade
from bot.content.state import LoadState
from bot.content.yamlio import strip

# Files with a loader of their own; any other *.yaml at the top is kept raw in `base.raw`.
OWN_FILES = {schools.FILE, trades.FILE, topics.FILE, campaigns.FILE, texts.FILE, quiz.FILE, others.FILE}

__all__ = [  # names callers have imported from here (bot.content is the public place for them)
    "LEVELS", "MAX_ANSWER", "PROVINCES", "ContentBase", "ContentError", "Entry", "Problem", "School", "Topic",
    "Trade", "format_report", "load_content", "render_trade",
]


def load_content(root: Path | str, today: date | None = None) -> ContentBase:
    """Load every content file under `root`. Never raises for bad content: see `.problems`."""
    base = ContentBase(root=Path(root))
    if not base.root.is_dir():
        base.problems.append(Problem(str(base.root), 0, "content folder not found"))
        return base
    state = LoadState(base, today or date.today())
    faq.load(state)
    texts.load(state)  # before trades: a trade's page uses the texts
    loaded_schools = schools.load(state)  # before trades: a trade's page lists its schools
    trades.load(state)
    schools.check_trades(state, loaded_schools)
    topics.load(state)
    campaigns.load(state)  # after topics: each campaign names one
    quiz.load(state)  # after trades: every type should be covered by a trade
    others.load(state)
    _keep_other_files(state)
    _check_related(state)
    base.problems.sort(key=lambda p: (p.file, p.line))
    return base


def _keep_other_files(state: LoadState) -> None:
    for extra in sorted(state.root.glob("*.yaml")):
        if extra.name not in OWN_FILES:
            data = state.read(extra)
            if data is not None:
                state.base.raw[extra.name] = strip(data)


def _check_related(state: LoadState) -> None:
    known = set(state.base.entries) | set(state.base.expired)
    for file, line, ident, related in state.related:
        for target in related:
            if target == ident:
                state.base.problems.append(Problem(file, line, f"{ident!r} lists itself in 'related'"))
            elif target not in known:
                state.base.problems.append(Problem(file, line,
                                                   f"{ident!r}: related id {target!r} does not exist"))
