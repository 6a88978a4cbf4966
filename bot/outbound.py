"""Outbound sending shared by live replies and broadcasts: one place for rate limits, retries and blocks."""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from bot.ports import Blocked, ChannelAdapter, Deferred, Limiter, RateLimited, Transient
from bot.retry import retry_send
from bot.types import Reply, UserRef

if TYPE_CHECKING:
    from bot.storage.repo import Store

log = logging.getLogger(__name__)


class NullLimiter:
    """No limits (tests of handlers, the terminal chat)."""

    @asynccontextmanager
    async def _slot(self):
        yield

    def slot(self, channel: str, chat_id: str, *, bulk: bool) -> AbstractAsyncContextManager[None]:
        """A slot granted at once."""
        return self._slot()

    def pause(self, channel: str, seconds: float) -> None:
        """Nothing to pause."""
        return None


class Outbound:
    """Sends replies through the adapters. Live replies retry briefly; broadcasts handle errors themselves."""

    LIVE_ATTEMPTS = 3
    LIVE_LONGEST_WAIT = 30.0  # seconds of a 429's retry_after a live reply waits out; longer drops it

    def __init__(self, store: Store | None, limiter: Limiter | None = None):
        self.store = store
        self.limiter: Limiter = limiter or NullLimiter()
        self.channels: dict[str, ChannelAdapter] = {}

    def register(self, adapter: ChannelAdapter) -> None:
        """Send through `adapter` from now on (the composition root registers each running channel)."""
        self.channels[adapter.name] = adapter

    def alerts(self) -> list[str]:
        """Every running channel's lines for staff (/thongke)."""
        return [line for adapter in self.channels.values() for line in adapter.alerts()]

    async def send_once(self, to: UserRef, reply: Reply, *, bulk: bool = False) -> str | None:
        """One attempt within the rate limits. A 429 pauses the channel; a block marks the user inactive."""
        adapter = self.channels.get(to.channel)
        if adapter is None:
            raise Transient(f"channel {to.channel} is not running")
        async with self.limiter.slot(to.channel, to.user_id, bulk=bulk):
            try:
                return await adapter.send(to.user_id, reply)
            except RateLimited as exc:
                self.limiter.pause(to.channel, exc.retry_after)
                raise
            except Blocked as exc:
                if self.store is not None:
                    await self.store.users.mark_inactive(to, exc.reason)
                raise

    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """A live reply: retried on 429 and transient errors; returns the message id or None if it failed."""
        try:
            return await retry_send(lambda: self.send_once(to, reply), attempts=self.LIVE_ATTEMPTS,
                                    longest_wait=self.LIVE_LONGEST_WAIT)
        except (RateLimited, Deferred) as exc:
            log.warning("reply to %s dropped after rate limit: %s", to, exc.reason)
        except Transient as exc:
            log.warning("reply to %s failed: %s", to, exc.reason)
        except Exception as exc:  # Blocked, Skipped, Permanent, or a bug in an adapter
            log.warning("reply to %s not sent: %s", to, exc)
        return None
