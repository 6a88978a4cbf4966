"""Neutral ports: the contracts between channels, the conversation, outbound sending, the scheduler and the
handlers. Every layer imports these; none of them imports another layer to learn a contract, so the data
flows one way (DESIGN.md):

    platform -> channel adapter -> Inbox (the conversation) -> handlers -> Messenger (outbound) -> adapter
    staff / calendar -> scheduler -> deliveries -> dispatcher -> Messenger -> adapter

Nothing here imports a platform SDK, the database or a handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from bot.types import Incoming, Reply, UserRef

if TYPE_CHECKING:
    from aiohttp import web


# --- what a send can tell its caller ------------------------------------------------------------


class SendError(Exception):
    """A send that did not go through. Subclasses say what the caller should do about it."""

    def __init__(self, reason: str):
        """Keep `reason` (shown in logs and delivery rows)."""
        super().__init__(reason)
        self.reason = reason


class Blocked(SendError):
    """The recipient cannot be reached any more (blocked the bot, deactivated, unfollowed, chat not found)."""


class RateLimited(SendError):
    """The platform asked us to slow down: wait `retry_after` seconds before sending on this channel."""

    def __init__(self, reason: str, retry_after: float):
        """`retry_after`: seconds the platform asked us to wait."""
        super().__init__(reason)
        self.retry_after = retry_after


class Transient(SendError):
    """Network error or 5xx: retrying later may work."""


class Skipped(SendError):
    """The platform's rules forbid this message now (e.g. outside Zalo's interaction window); do not retry."""


class Deferred(SendError):
    """Not allowed now but allowed later (e.g. Zalo's night-time rule): retry at `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: float):
        """`retry_after`: seconds until sending is allowed again."""
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(SendError):
    """The request itself is wrong (bad payload, message too long...): retrying will not help."""


# --- the contracts ------------------------------------------------------------------------------

OnceFn = Callable[[], Awaitable[bool]]


class Inbox(Protocol):
    """Where a channel adapter hands what it received (the conversation implements it)."""

    def submit(self, incoming: Incoming, *, once: OnceFn | None = None) -> asyncio.Task:
        """Queue an update and return at once; `once` returning False skips a redelivered update."""
        ...

    async def process(self, incoming: Incoming) -> list[Reply]:
        """Handle one update now and send its replies to the chat it came from."""
        ...


class ChannelAdapter(Protocol):
    """One platform. Lifecycle: the composition root creates the adapter (its module's async `create`),
    adds `routes()` to the HTTP server, calls `start()`, sends through `send()`, reads `status` and
    `alerts()` for health and staff, and calls `stop()` then `close()` on shutdown."""

    name: str  # the channel id stored with users: "telegram", "zalo_oa", "zalo_bot", "web"

    @property
    def status(self) -> str:
        """"on", or "paused: <why>" while the channel cannot send (shown in /healthz)."""
        ...

    def alerts(self) -> list[str]:
        """Lines for staff (/thongke) about trouble receiving or sending; empty when all is well."""
        ...

    def routes(self) -> list[web.RouteDef]:
        """HTTP routes this adapter serves on the project's server (may be empty)."""
        ...

    async def start(self) -> None:
        """Begin receiving (start polling or register the webhook). Must not block."""
        ...

    async def stop(self) -> None:
        """Stop receiving; let in-flight work finish."""
        ...

    async def close(self) -> None:
        """Release what the adapter holds (HTTP sessions); called after every stop."""
        ...

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send one reply to one chat; return the platform's message id. Raises SendError subclasses."""
        ...


class Messenger(Protocol):
    """Sends a reply to anyone (the staff chat, a relayed answer, a broadcast); outbound implements it."""

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Send with brief retries; return the message id, or None when it could not be sent."""
        ...


class Limiter(Protocol):
    """The platforms' rate limits, shared by live replies and broadcasts."""

    def slot(self, channel: str, chat_id: str, *, bulk: bool) -> AbstractAsyncContextManager[None]:
        """Wait for permission to send one message on `channel` to `chat_id`."""
        ...

    def pause(self, channel: str, seconds: float) -> None:
        """Stop all sends on `channel` for `seconds` (a 429's retry_after)."""
        ...
