"""The answer text of a trade page, rendered from the trade's fields and the schools that teach it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.content.models import LEVELS, School, Trade

if TYPE_CHECKING:
    from handlers.texts import Texts


def render_trade(trade: Trade, schools: list[School], texts: Texts) -> str:
    """The answer text of a trade page; without a known school it says whom to ask (texts: trade_no_school)."""
    parts = [f"{trade.title}", trade.summary]
    if trade.learn:
        parts.append("Học gì:\n" + "\n".join(f"- {x}" for x in trade.learn))
    if trade.jobs:
        parts.append("Việc làm sau khi ra trường:\n" + "\n".join(f"- {x}" for x in trade.jobs))
    if trade.suits:
        parts.append(f"Phù hợp với: {trade.suits}")
    if trade.levels:
        parts.append("Trình độ đào tạo: " + ", ".join(LEVELS[lv] for lv in trade.levels if lv in LEVELS) + ".")
    if schools:
        parts.append("Trường có đào tạo (theo nguồn công khai):\n" + "\n".join(f"- {s.name}" for s in schools))
    else:
        parts.append(texts("trade_no_school"))
    return "\n\n".join(parts)
