"""texts.yaml: overrides of the bot's texts, office hours and example questions, built once into the
base's catalogue (handlers.texts.Texts keeps the defaults and ignores, with a log line, a bad override)."""

from __future__ import annotations

from bot.content.state import LoadState
from bot.content.yamlio import strip
from handlers.texts import Texts

FILE = "texts.yaml"


def load(state: LoadState) -> None:
    """The catalogue of texts for this base (the defaults alone when the file is absent or unreadable)."""
    path = state.root / FILE
    raw = None
    if path.exists():
        data = state.read(path)
        if data is not None:
            raw = strip(data)
            state.base.raw[FILE] = raw
    state.base.texts = Texts(raw)
