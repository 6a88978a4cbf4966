"""A small router: commands, button payloads, flows and a fallback, each mapped to a handler.

A handler is `async def h(ctx: Ctx) -> list[Reply]`. Each handler module builds one `Router`; the
composition root includes them all into one (see handlers.build_router).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.types import Incoming, Reply
from handlers.texts import texts_for

if TYPE_CHECKING:
    from bot.content.loader import ContentBase
    from bot.storage.models import User
    from bot.storage.repo import State, Store
    from bot.types import UserRef
    from handlers.services import Services
    from handlers.texts import Texts

log = logging.getLogger(__name__)


@dataclass
class Ctx:
    """Everything one handler call may use."""

    incoming: Incoming
    user: User
    state: State
    services: Services
    args: list[str] = field(default_factory=list)  # command arguments, or the payload's rest split on ':'

    @property
    def text(self) -> str:
        return self.incoming.text

    @property
    def ref(self) -> UserRef:
        return self.incoming.user

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def base(self) -> ContentBase:
        return self.services.content.base

    @property
    def t(self) -> Texts:
        """The text catalogue of the current content (handlers.texts)."""
        return texts_for(self.services.content.base)

    @property
    def is_staff(self) -> bool:
        return self.services.is_staff(self.incoming.user)


Handler = Callable[[Ctx], Awaitable[list[Reply]]]


@dataclass
class Route:
    handler: Handler
    staff: bool = False


class Router:
    """Maps /commands, payload prefixes ("sub:tuyen_sinh" -> prefix "sub") and flow names to handlers."""

    def __init__(self) -> None:
        self.commands: dict[str, Route] = {}
        self.payloads: dict[str, Route] = {}
        self.flows: dict[str, Route] = {}
        self.fallback: Handler | None = None

    def command(self, *names: str, staff: bool = False) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            for name in names:
                self._add(self.commands, name, Route(fn, staff))
            return fn
        return deco

    def payload(self, prefix: str, staff: bool = False) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self._add(self.payloads, prefix, Route(fn, staff))
            return fn
        return deco

    def flow(self, name: str, staff: bool = False) -> Callable[[Handler], Handler]:
        """Handles free text while the user's state.flow == name."""
        def deco(fn: Handler) -> Handler:
            self._add(self.flows, name, Route(fn, staff))
            return fn
        return deco

    def default(self, fn: Handler) -> Handler:
        self.fallback = fn
        return fn

    def include(self, other: Router) -> None:
        for table, theirs in ((self.commands, other.commands), (self.payloads, other.payloads),
                              (self.flows, other.flows)):
            for key, route in theirs.items():
                self._add(table, key, route)
        if other.fallback is not None:
            if self.fallback is not None:
                raise ValueError("two fallback handlers")
            self.fallback = other.fallback

    @staticmethod
    def _add(table: dict[str, Route], key: str, route: Route) -> None:
        if key in table:
            raise ValueError(f"route {key!r} registered twice")
        table[key] = route
