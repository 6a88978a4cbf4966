"""The adapter contract every channel follows, and the errors its `send` raises."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Protocol

from aiohttp import web

from bot.types import Reply

# How long a platform's update / message ids are remembered to drop redeliveries (processed_updates):
# platforms redeliver within a day (Telegram keeps undelivered updates 24 h). The app prunes older rows.
DEDUP_WINDOW = timedelta(days=2)


class ReceiveTrouble:
    """Why receiving has been failing, for staff (/thongke): set by a channel's polling or webhook
    set-up, cleared when it works again. A rejected token is shown at once, anything else after
    five minutes (a network blip is not news)."""

    def __init__(self, label: str):
        self.label = label
        self.why: str | None = None
        self.since: float | None = None

    def set(self, why: str | None) -> None:
        if why is None:
            self.why = self.since = None
        elif self.why is None:
            self.why, self.since = why, asyncio.get_running_loop().time()

    def alerts(self) -> list[str]:
        if self.why is None or self.since is None:
            return []
        minutes = (asyncio.get_running_loop().time() - self.since) / 60
        if self.why.startswith("token") or minutes >= 5:
            return [f"{self.label}: {self.why} (từ {minutes:.0f} phút trước)"]
        return []


class SendError(Exception):
    """A send that did not go through. Subclasses say what the caller should do about it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Blocked(SendError):
    """The recipient cannot be reached any more (blocked the bot, deactivated, unfollowed, chat not found)."""


class RateLimited(SendError):
    """The platform asked us to slow down: wait `retry_after` seconds before sending on this channel."""

    def __init__(self, reason: str, retry_after: float):
        super().__init__(reason)
        self.retry_after = retry_after


class Transient(SendError):
    """Network error or 5xx: retrying later may work."""


class Skipped(SendError):
    """The platform's rules forbid this message now (e.g. outside Zalo's interaction window); do not retry."""


class Deferred(SendError):
    """Not allowed now but allowed later (e.g. Zalo's night-time rule): retry at `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: float):
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(SendError):
    """The request itself is wrong (bad payload, message too long...): retrying will not help."""


class ChannelAdapter(Protocol):
    """Lifecycle: the app creates the adapter, adds `routes()` to its HTTP server, calls `start()`,
    sends through `send()`, and calls `stop()` on shutdown."""

    name: str  # the channel id stored with users: "telegram", "zalo_oa", "zalo_bot"

    def routes(self) -> list[web.RouteDef]:
        """Webhook routes this adapter serves on the project's HTTP server (may be empty)."""

    async def start(self) -> None:
        """Begin receiving (start polling or register the webhook). Must not block."""

    async def stop(self) -> None:
        """Stop receiving; let in-flight work finish."""

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        """Send one reply to one chat; return the platform's message id. Raises SendError subclasses."""
