"""A small router: commands, typed button payloads, flows (step tables) and a fallback, each mapped to
a handler.

A handler is `async def h(ctx: Ctx) -> list[Reply]`; a button handler also gets its decoded payload,
`async def h(ctx: Ctx, cb: SomeButton) -> list[Reply]`. Each handler module builds one `Router`;
handlers.build_router includes them all into one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bot.content.texts import texts_for
from bot.types import Incoming, Reply
from handlers.callbacks import CallbackData
from handlers.flows import Flow

if TYPE_CHECKING:
    from bot.content.loader import ContentBase
    from bot.content.texts import Texts
    from bot.storage.models import User
    from bot.storage.repo import State, Store
    from bot.types import UserRef
    from handlers.services import Services

log = logging.getLogger(__name__)


@dataclass
class Ctx:
    """Everything one handler call may use."""

    incoming: Incoming
    profile: User  # the person's stored row (incoming.user is their UserRef)
    state: State
    services: Services
    args: list[str] = field(default_factory=list)  # a command's arguments

    @property
    def text(self) -> str:
        """What the person typed."""
        return self.incoming.text

    @property
    def ref(self) -> UserRef:
        """The person's channel and id on it."""
        return self.incoming.user

    @property
    def store(self) -> Store:
        """The database, from the injected services."""
        return self.services.store

    @property
    def base(self) -> ContentBase:
        """The content currently loaded (it may be reloaded between calls)."""
        return self.services.content.base

    @property
    def t(self) -> Texts:
        """The text catalogue of the current content (bot.content.texts)."""
        return texts_for(self.services.content.base)

    @property
    def is_staff(self) -> bool:
        """Whether the person is a counsellor (see Services.is_staff)."""
        return self.services.is_staff(self.incoming.user)


Handler = Callable[[Ctx], Awaitable[list[Reply]]]
C = TypeVar("C", bound=CallbackData)
ButtonHandler = Callable[[Ctx, C], Awaitable[list[Reply]]]


@dataclass
class Route:
    """A command's handler and whether only staff may use it."""

    handler: Handler
    staff: bool = False


@dataclass
class ButtonRoute:
    """A button's payload class (decoded before the handler runs) and its handler."""

    codec: type[CallbackData]
    handler: ButtonHandler[Any]
    staff: bool = False


class Router:
    """Maps /commands, typed button payloads (by prefix) and flows (step tables) to handlers."""

    def __init__(self) -> None:
        """An empty router; handler modules fill theirs with the decorators."""
        self.commands: dict[str, Route] = {}
        self.buttons: dict[str, ButtonRoute] = {}
        self.flows: dict[str, Flow[Any]] = {}
        self.fallback: Handler | None = None

    def command(self, *names: str, staff: bool = False) -> Callable[[Handler], Handler]:
        """Route /name (and the bare word, see handlers.dispatch) to the handler."""
        def deco(fn: Handler) -> Handler:
            for name in names:
                self._add(self.commands, name, Route(fn, staff))
            return fn
        return deco

    def button(self, codec: type[C], staff: bool = False) -> Callable[[ButtonHandler[C]], ButtonHandler[C]]:
        """Route presses of `codec`'s buttons to the handler, called with the decoded payload."""
        def deco(fn: ButtonHandler[C]) -> ButtonHandler[C]:
            self._add(self.buttons, codec.prefix, ButtonRoute(codec, fn, staff))
            return fn
        return deco

    def flow(self, flow: Flow[Any]) -> Flow[Any]:
        """Send typed text to `flow`'s current step while the person is in it."""
        self._add(self.flows, flow.name, flow)
        return flow

    def default(self, fn: Handler) -> Handler:
        """The handler of everything else (the answer engine)."""
        self.fallback = fn
        return fn

    def include(self, other: Router) -> None:
        """Add another module's routes; a route registered twice is an error."""
        for table, theirs in ((self.commands, other.commands), (self.buttons, other.buttons),
                              (self.flows, other.flows)):
            for key, route in theirs.items():
                self._add(table, key, route)  # type: ignore[arg-type]
        if other.fallback is not None:
            if self.fallback is not None:
                raise ValueError("two fallback handlers")
            self.fallback = other.fallback

    @staticmethod
    def _add(table: dict[str, Any], key: str, route: Any) -> None:
        if key in table:
            raise ValueError(f"route {key!r} registered twice")
        table[key] = route
