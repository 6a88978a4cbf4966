"""The curated content base: loading, validation and the check report."""

from bot.content.loader import (
    ContentBase,
    ContentError,
    Entry,
    Problem,
    School,
    Topic,
    Trade,
    format_report,
    load_content,
)

__all__ = [
    "ContentBase",
    "ContentError",
    "Entry",
    "Problem",
    "School",
    "Topic",
    "Trade",
    "format_report",
    "load_content",
]
