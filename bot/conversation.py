"""Runs the conversation: takes Incoming from any adapter, keeps one chat's updates in order while
different chats run concurrently, asks the handlers for replies and sends them back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.outbound import Outbound
from bot.types import Incoming, Reply, UserRef

log = logging.getLogger(__name__)

HandleFn = Callable[[Incoming], Awaitable[list[Reply]]]
OnceFn = Callable[[], Awaitable[bool]]


class Conversation:
    """Runs the handler for each incoming message and sends its replies, one message at a time per chat."""

    def __init__(self, handle: HandleFn, outbound: Outbound):
        self._handle = handle
        self.outbound = outbound
        self._chains: dict[tuple[str, str], asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closing = False

    @staticmethod
    def chat_of(incoming: Incoming) -> UserRef:
        """Where replies to `incoming` go: its chat, or the person when there is none."""
        return UserRef(incoming.user.channel, incoming.chat_id or incoming.user.user_id)

    def submit(self, incoming: Incoming, *, once: OnceFn | None = None) -> asyncio.Task:
        """Queue an update; returns at once. Updates of one chat run one after another, in order.

        `once`, when given, runs first in the chat's turn; False skips the update (a redelivered one)."""
        if self._closing:
            raise RuntimeError("conversation is shutting down")
        chat = self.chat_of(incoming)
        key = (chat.channel, chat.user_id)
        previous = self._chains.get(key)
        task = asyncio.create_task(self._run_after(previous, incoming, chat, once))
        self._chains[key] = task
        self._tasks.add(task)

        def _done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if self._chains.get(key) is t:
                del self._chains[key]

        task.add_done_callback(_done)
        return task

    async def _run_after(self, previous: asyncio.Task | None, incoming: Incoming, chat: UserRef,
                         once: OnceFn | None = None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if once is not None:
            try:
                if not await once():
                    return
            except Exception:
                log.exception("duplicate check failed for %s; handling the update anyway", chat)
        await self.process(incoming, chat)

    async def process(self, incoming: Incoming, chat: UserRef | None = None) -> list[Reply]:
        """Handle one update now and send its replies to the chat it came from."""
        chat = chat or self.chat_of(incoming)
        try:
            replies = await self._handle(incoming)
        except Exception:
            log.exception("handler failed for %s", chat)
            replies = [Reply("Xin lỗi, hệ thống đang gặp sự cố. Bạn vui lòng thử lại sau ít phút nhé.")]
        for reply in replies:
            await self.outbound.send(chat, reply)
        return replies

    async def drain(self, grace: float = 30.0) -> None:
        """Stop accepting updates and wait for in-flight ones to finish (SIGTERM)."""
        self._closing = True
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            if pending:
                log.warning("%d update(s) still running at shutdown", len(pending))

    @property
    def in_flight(self) -> int:
        """How many messages are being handled right now."""
        return len(self._tasks)
