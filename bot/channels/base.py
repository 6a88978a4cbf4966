"""Helpers every channel adapter shares: dedup window, receive-trouble alerts, set-up retries, split replies.

The adapter contract and the send errors are neutral ports (bot.ports)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, TypeVar

from aiohttp import web

from bot.ports import SendError
from bot.retry import retry_send

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.ports import Inbox
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a platform's update / message ids are remembered to drop redeliveries (processed_updates):
# platforms redeliver within a day (Telegram keeps undelivered updates 24 h). The app prunes older rows.
DEDUP_WINDOW = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class ChannelDeps:
    """What the composition root gives every channel's `create`: nothing else is reached for later."""

    settings: Settings
    store: Store
    inbox: Inbox
    clock: Clock


@dataclass(frozen=True, slots=True)
class Off:
    """A channel's `create` returns this when the channel is not configured: `reason` says why."""

    reason: str


class ReceiveTrouble:
    """Why receiving has been failing, for staff (/thongke): set by a channel's polling or webhook
    set-up, cleared when it works again. A rejected token is shown at once, anything else after
    five minutes (a network blip is not news)."""

    def __init__(self, label: str):
        self.label = label
        self.why: str | None = None
        self.since: float | None = None

    def set(self, why: str | None) -> None:
        """Record why receiving fails (the first time), or None once it works again."""
        if why is None:
            self.why = self.since = None
        elif self.why is None:
            self.why, self.since = why, asyncio.get_running_loop().time()

    def alerts(self) -> list[str]:
        """A line for staff once the trouble is news (a bad token at once, the rest after 5 min)."""
        if self.why is None or self.since is None:
            return []
        minutes = (asyncio.get_running_loop().time() - self.since) / 60
        if self.why.startswith("token") or minutes >= 5:
            return [f"{self.label}: {self.why} (từ {minutes:.0f} phút trước)"]
        return []


class Receiving:
    """What a channel that receives by long polling or by a webhook (Telegram, the Zalo Bot) shares: its
    status, its receive-trouble alerts, and the webhook route, served only in webhook mode."""

    webhook_path: ClassVar[str]
    mode: str
    trouble: ReceiveTrouble

    @property
    def status(self) -> str:
        """Always "on" once created: trouble receiving shows in `alerts()`."""
        return "on"

    def alerts(self) -> list[str]:
        """Lines for staff when receiving has been failing for a while (a rejected token, no network)."""
        return self.trouble.alerts()

    def routes(self) -> list[web.RouteDef]:
        """The webhook route in webhook mode; none when polling."""
        return [web.post(self.webhook_path, self._webhook)] if self.mode == "webhook" else []

    async def _webhook(self, request: web.Request) -> web.Response:
        raise NotImplementedError


async def retry_until_done(call: Callable[[], Awaitable[T]], what: str, log: logging.Logger, *,
                           describe: Callable[[BaseException], str] = str,
                           on_failure: Callable[[], None] | None = None,
                           first: float = 1.0, most: float = 30.0) -> T:
    """Await `call()` until it succeeds (a channel's set-up call: setWebhook, deleteWebhook), waiting
    `first` seconds after a failure and doubling up to `most`. Each failure is logged as a warning
    (`describe` turns the exception into text, e.g. without a token) and `on_failure` runs."""
    delay = first
    while True:
        try:
            return await call()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s failed (%s); retrying in %.0f s", what, describe(exc), delay)
            if on_failure is not None:
                on_failure()
            await asyncio.sleep(delay)
            delay = min(most, delay * 2)


# --- replies sent in several messages ------------------------------------------------------------

PIECE_ATTEMPTS = 4  # tries of a later piece of a split reply (the first try and three retries)
PIECE_BACKOFF = 0.5  # seconds before retrying a later piece after a Transient error, doubling
PIECE_MAX_WAIT = 60.0  # the longest RateLimited / Deferred wait sat out for a later piece; longer gives up

P = TypeVar("P")


async def send_pieces(pieces: Sequence[P], send_one: Callable[[P], Awaitable[str | None]], *,
                      channel: str, chat_id: str, size: Callable[[P], int] | None = None) -> str | None:
    """Send a reply split into several messages, in order, exactly once; returns the message id of the
    last piece delivered.

    An error on the first piece propagates (nothing went out: the caller's retry resends the whole reply,
    which is safe). Once a piece is delivered the reply counts as delivered and this never raises a
    SendError again: a caller's retry would resend the pieces already shown. A later piece that fails is
    retried here (a RateLimited / Deferred after its retry_after when that is at most PIECE_MAX_WAIT, a
    Transient after a short backoff, PIECE_ATTEMPTS tries in all; Blocked, Skipped and Permanent are not
    retried); if it still fails, the rest of the reply is dropped with a warning naming what was lost.
    Cancellation (shutdown) is not caught."""
    message_id: str | None = None
    for number, piece in enumerate(pieces, start=1):
        if number == 1:
            message_id = await send_one(piece)
            continue
        try:
            message_id = await _send_later_piece(piece, send_one) or message_id
        except Exception as exc:
            lost = pieces[number - 1:]
            characters = sum(size(p) for p in lost) if size is not None else None
            log.warning(
                "%s: reply to %s delivered in part: piece%s %s of %d%s not sent (%s); the reply counts "
                "as sent so the pieces already shown are not sent again",
                channel,
                chat_id,
                "s" if len(lost) > 1 else "",
                f"{number}-{len(pieces)}" if len(lost) > 1 else str(number),
                len(pieces),
                f", {characters} characters" if characters is not None else "",
                exc.reason if isinstance(exc, SendError) else f"{type(exc).__name__}: {exc}",
            )
            return message_id
    return message_id


async def _send_later_piece(piece: P, send_one: Callable[[P], Awaitable[str | None]]) -> str | None:
    return await retry_send(lambda: send_one(piece), attempts=PIECE_ATTEMPTS, longest_wait=PIECE_MAX_WAIT,
                            backoff=PIECE_BACKOFF)
