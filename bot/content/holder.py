"""The live content base and its answer engine, swapped atomically on reload (bad content keeps the old)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.content.loader import load_content
from bot.content.models import ContentBase
from bot.content.problems import ContentError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """One loaded content base with the answer engine built over its entries."""

    base: ContentBase
    engine: object  # bot.engine.AnswerEngine


class ContentHolder:
    """Owns the current content snapshot. `reload()` replaces it only when the new content is valid."""

    def __init__(self, root: Path, today: date | None = None):
        self.root = Path(root)
        self._snapshot = self._build(today)

    def _build(self, today: date | None = None) -> Snapshot:
        from bot.engine import AnswerEngine  # heavy-ish; imported where needed

        base = load_content(self.root, today=today)
        if not base.ok:
            raise ContentError(base.problems)
        return Snapshot(base, AnswerEngine.for_content(base))

    @property
    def base(self) -> ContentBase:
        """The content in use (with its texts catalogue: `base.texts`)."""
        return self._snapshot.base

    @property
    def engine(self):
        """The answer engine over the current entries."""
        return self._snapshot.engine

    def reload(self, today: date | None = None) -> ContentBase:
        """Load again; on errors keep serving the previous content and raise ContentError."""
        try:
            snapshot = self._build(today)
        except ContentError as exc:
            log.error("content reload refused, previous content kept:\n%s", exc)
            raise
        self._snapshot = snapshot
        log.info("content reloaded: %d entries", len(snapshot.base.entries))
        return snapshot.base
