"""Fakes shared by tests: a tiny answer engine and content holder (for handler tests that must not depend
on the real engine's scoring), a messenger that records what it sent. The fake Telegram Bot API server
lives in tests.fakes.telegram_api."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from bot.content.loader import ContentBase, ContentError, load_content
from bot.types import Reply, UserRef
from handlers.common import fold

FIXTURE_CONTENT = Path(__file__).resolve().parent.parent / "fixtures" / "content"

GREETINGS = {"xin chao", "chao", "chao ban", "hello", "hi", "alo"}


@dataclass(frozen=True)
class FakeMatch:
    """Same fields as bot.engine.Match."""

    kind: str  # answer | none | greeting | thanks | empty
    id: str | None = None
    score: float = 0.0
    normalized: str = ""
    suggestions: tuple[tuple[str, float], ...] = ()


class FakeEngine:
    """Word-overlap matching over the entries' questions: predictable, so tests can choose what answers."""

    THRESHOLD = 0.5

    def __init__(self, entries):
        self.index = [(e.id, set(fold(q).split())) for e in entries for q in e.questions]
        self.calls: list[str] = []

    def answer(self, text: str) -> FakeMatch:
        self.calls.append(text)
        norm = fold(text)
        if not norm:
            return FakeMatch("empty", normalized=norm)
        if norm in GREETINGS:
            return FakeMatch("greeting", normalized=norm)
        if norm.startswith(("cam on", "thanks")):
            return FakeMatch("thanks", normalized=norm)
        words = set(norm.split())
        best: dict[str, float] = {}
        for ident, qwords in self.index:
            score = len(words & qwords) / len(words | qwords)
            best[ident] = max(score, best.get(ident, 0.0))
        ranked = sorted(((s, i) for i, s in best.items() if s > 0), reverse=True)
        if ranked and ranked[0][0] >= self.THRESHOLD:
            return FakeMatch("answer", ranked[0][1], ranked[0][0], norm,
                             tuple((i, s) for s, i in ranked[1:4]))
        return FakeMatch("none", None, ranked[0][0] if ranked else 0.0, norm,
                         tuple((i, s) for s, i in ranked[:3]))


class FakeHolder:
    """Like bot.content.holder.ContentHolder (.base, .engine, .reload) with FakeEngine."""

    def __init__(self, root: Path | str = FIXTURE_CONTENT):
        self.root = Path(root)
        self.base: ContentBase = self._load()
        self.engine = FakeEngine(self.base.entries.values())

    def _load(self) -> ContentBase:
        base = load_content(self.root)
        if not base.ok:
            raise ContentError(base.problems)
        return base

    def reload(self) -> ContentBase:
        self.base = self._load()
        self.engine = FakeEngine(self.base.entries.values())
        return self.base


@dataclass
class RecordingMessenger:
    """handlers.services.Messenger that records (to, reply) and returns increasing message ids."""

    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)
    fail_for: set[str] = field(default_factory=set)  # user ids whose sends fail (return None)
    _next: int = 1000

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        if to.user_id in self.fail_for:
            return None
        self.sent.append((to, reply))
        self._next += 1
        return str(self._next)

    def to(self, user_id: str) -> list[Reply]:
        return [r for ref, r in self.sent if ref.user_id == user_id]


@contextlib.asynccontextmanager
async def running_app(settings, *, fake_content: bool = True, limiter=None, clock=None):
    """bot.app built and started on `settings` (content through FakeHolder unless fake_content=False), stopped
    on exit. `limiter`: replaces the shared rate limiter (e.g. NullLimiter() so tests need not wait out
    Telegram's one-message-per-second-per-chat pacing)."""
    import bot.app as appmod

    original = appmod.ContentHolder
    if fake_content:
        appmod.ContentHolder = FakeHolder  # type: ignore[assignment,misc]
    try:
        app = await appmod.build_app(settings, clock)
    finally:
        appmod.ContentHolder = original  # type: ignore[misc]
    if limiter is not None:
        app.outbound.limiter = limiter
    await appmod.start(app)
    try:
        yield app
    finally:
        await appmod.stop(app)


async def eventually(predicate, within: float = 5.0, interval: float = 0.02, what: str = "condition"):
    """Poll an async or plain predicate until truthy (for state outside the fake server, e.g. the database);
    returns its value, raises TimeoutError after `within` seconds."""
    import asyncio
    import inspect

    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(interval)
