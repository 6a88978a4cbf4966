"""The web channel's mailbox repository: every message of a visitor's chat, kept in order (web_messages)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.storage.models import WebMessage

if TYPE_CHECKING:
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

M = WebMessage.__table__
BATCH = 500  # rows per group-committed transaction at most
HISTORY = 200  # messages a page gets when it (re)loads with nothing shown yet
PRUNE_CHUNK = 1000  # rows deleted per transaction when old messages are pruned
CHANNEL = "web"


@dataclass(frozen=True, slots=True)
class Letter:
    """One stored message: `id` is its sequence number (increasing, per visitor and overall)."""

    id: int
    sender: str  # "bot" | "user"
    body: str  # JSON
    at: datetime


# The mailbox's INSERT ... RETURNING id, built once. Executed with a list of rows and no
# `sort_by_parameter_order`, SQLAlchemy sends it as one multi-row INSERT per 1,000 rows ("insertmanyvalues")
# and reuses its compiled form; a statement built with `.values([...])` has no cache key and was compiled
# again for every flush.
_INSERT = sa.insert(M).returning(M.c.id)


def clear_statement(channel: str, platform_id: str) -> sa.Delete:
    """The DELETE of a person's mailbox, for `PersonalData.delete` (matches nothing off the web)."""
    return sa.delete(M).where(sa.literal(channel == CHANNEL), M.c.visitor == platform_id)


class Mailbox:
    """Async access to web_messages over the project's Store (same engine, same clock).

    `append` is group-committed: concurrent calls (replies to many visitors, a broadcast's sends) share
    one INSERT ... RETURNING, so the database does not cap how many messages a second reach mailboxes."""

    def __init__(self, store: Store):
        self.store = store
        self.engine = store.engine
        self.clock = store.clock
        self._queue: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._flusher: asyncio.Task | None = None
        self._now = asyncio.Event()  # set: write what is queued without waiting out a hold
        store.add_writer(self.flush)  # a deletion of personal data waits for what is queued here

    @asynccontextmanager
    async def _writing(self, urgent: bool = True) -> AsyncIterator[None]:
        # SQLite has one writer: queue behind the conversation's own urgent writes (the Store's gate)
        # rather than in SQLite's sleeping busy handler. PostgreSQL needs no gate.
        gate = getattr(self.store, "writing", None)
        if gate is None:
            yield
        else:
            async with gate(urgent=urgent):
                yield

    def put(self, visitor: str, sender: str, body: str, hold: float = 0.0) -> asyncio.Future[int]:
        """Queue one message now (messages get their ids in the order they are put); the future gives its
        id once committed. `hold`: seconds the write may wait for the next message, which then shares its
        transaction (what a visitor typed waits for the bot's answer: one commit per question, not two);
        a message put without a hold is written at once, with whatever is waiting."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.append(({"visitor": visitor, "sender": sender, "body": body, "at": self.clock.now()},
                            future))
        if self._flusher is None or self._flusher.done():
            self._now.clear()
            self._flusher = loop.create_task(self._flush(hold), name="web-mailbox-writer")
        elif not hold:
            self._now.set()
        return future

    async def append(self, visitor: str, sender: str, body: str) -> int:
        """Store one message; returns its id once committed."""
        return await self.put(visitor, sender, body)

    async def _flush(self, hold: float = 0.0) -> None:
        if hold and not self._now.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), hold)
        while self._queue:
            batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
            try:
                # One multi-row INSERT ... RETURNING per 1,000 rows (an executemany with RETURNING in
                # parameter order ran one statement per row on SQLite: SQLAlchemy finds no sentinel to sort
                # by). The ids of one statement grow in the order of its rows (SQLite AUTOINCREMENT, a
                # PostgreSQL sequence), and its pages run in order, so sorted they are the rows' ids in order.
                async with self._writing(), self.engine.begin() as conn:
                    result = await conn.execute(_INSERT, [row for row, _ in batch])
                    ids = sorted(result.scalars())
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), ident in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(ident)

    async def flush(self) -> None:
        """Wait for queued appends (a deletion, shutdown), held ones written at once."""
        self._now.set()
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(Exception):
                await self._flusher

    async def since(self, visitor: str, after: int = 0, limit: int = HISTORY) -> list[Letter]:
        """The visitor's messages with id > `after`, oldest first: the newest `limit` of them when `after`
        is 0 (a page loading with nothing shown), else all of them (what a reconnecting page missed)."""
        query = sa.select(M.c.id, M.c.sender, M.c.body, M.c.at).where(M.c.visitor == visitor)
        if after > 0:
            query = query.where(M.c.id > after).order_by(M.c.id)
        else:
            query = query.order_by(M.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        letters = [Letter(r.id, r.sender, r.body, r.at) for r in rows]
        return letters if after > 0 else letters[::-1]

    async def count_after(self, visitor: str, after: int, sender: str = "bot") -> int:
        """How many of `sender`'s messages to the visitor came after id `after` (the unread ones)."""
        query = (sa.select(sa.func.count()).select_from(M)
                 .where(M.c.visitor == visitor, M.c.sender == sender, M.c.id > after))
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def get(self, visitor: str, ident: int) -> Letter | None:
        """One message of this visitor (None when it is not theirs or is gone)."""
        query = sa.select(M.c.id, M.c.sender, M.c.body, M.c.at).where(M.c.id == ident, M.c.visitor == visitor)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return Letter(row.id, row.sender, row.body, row.at) if row is not None else None

    async def clear(self, visitor: str) -> int:
        """Empty the visitor's mailbox ("Cuộc trò chuyện mới"); returns how many messages went."""
        await self.flush()  # appends still queued land first, then go with the rest
        async with self._writing(), self.engine.begin() as conn:
            result = await conn.execute(sa.delete(M).where(M.c.visitor == visitor))
            return result.rowcount or 0

    async def prune(self, before: datetime, chunk: int = PRUNE_CHUNK) -> int:
        """Delete the messages stored before `before`, oldest first, `chunk` rows per transaction (the
        writer is held briefly); returns how many went. Ids grow with the time a message is stored, so
        the oldest rows are read by primary key (no index on `at` needed, no scan of the table): it stops
        at the first chunk holding a row to keep."""
        gone = 0
        while True:
            query = sa.select(M.c.id, M.c.at).order_by(M.c.id).limit(chunk)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            old = [r.id for r in rows if r.at < before]
            if old:
                async with self._writing(urgent=False), self.engine.begin() as conn:
                    await conn.execute(sa.delete(M).where(M.c.id.in_(old)))
                gone += len(old)
            if len(old) < chunk:
                return gone

    async def count(self, visitor: str | None = None) -> int:
        """Messages stored (for one visitor, or in all)."""
        query = sa.select(sa.func.count()).select_from(M)
        if visitor is not None:
            query = query.where(M.c.visitor == visitor)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
