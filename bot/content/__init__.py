"""The curated content base: loading, validation and the check report.

Import the public names from here (`from bot.content import ContentBase, load_content`); the modules
behind them are: models (what a base holds), problems (the report), render (a trade's page), campaigns
(the calendar's model), loader (the orchestration) and files/ (one loader per content file).
"""

from bot.content.campaigns import Campaign, CampaignMessage
from bot.content.loader import load_content
from bot.content.models import (
    LEVELS,
    MAX_ANSWER,
    PROVINCES,
    RIASEC,
    ContentBase,
    Entry,
    Group,
    Quiz,
    QuizChoice,
    QuizItem,
    QuizType,
    School,
    Topic,
    Trade,
)
from bot.content.problems import ContentError, Problem, format_report
from bot.content.render import render_trade

__all__ = [
    "LEVELS",
    "MAX_ANSWER",
    "PROVINCES",
    "RIASEC",
    "Campaign",
    "CampaignMessage",
    "ContentBase",
    "ContentError",
    "Entry",
    "Group",
    "Problem",
    "Quiz",
    "QuizChoice",
    "QuizItem",
    "QuizType",
    "School",
    "Topic",
    "Trade",
    "format_report",
    "load_content",
    "render_trade",
]
