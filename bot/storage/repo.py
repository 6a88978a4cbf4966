"""The store: one engine's sessions, clock and SQLite write gate, and the focused repositories over them
(users and state, subscriptions, questions, handoff cases, key-value and dedup, personal data, audit and
statistics, quiz results and counselling registrations, staff console accounts and their audit log).
Broadcasts have theirs in scheduler.store."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.clock import Clock, SystemClock
from bot.storage.cases import Cases
from bot.storage.db import sessionmaker
from bot.storage.guidance import Leads, QuizResults
from bot.storage.kv import Dedup, KeyValues, chat_key
from bot.storage.privacy import PersonalData
from bot.storage.questions import Questions
from bot.storage.staff import ConsoleAuditLog, GapResolutions, StaffAccounts
from bot.storage.stats import Audit, Stats
from bot.storage.subscriptions import Subscriptions
from bot.storage.users import State, Users

__all__ = ["State", "Store", "chat_key"]


class _WriteGate:
    """One SQLite writer at a time, urgent writes first: what an answer waits on (the update dedup, a new
    user's row) goes before background writes (the question log), which wait while urgent ones queue."""

    PATIENCE = 1.0  # seconds

    def __init__(self) -> None:
        """Nobody writing, nobody urgent waiting."""
        self._lock = asyncio.Lock()
        self._urgent = 0
        self._calm = asyncio.Event()
        self._calm.set()

    @asynccontextmanager
    async def hold(self, urgent: bool) -> AsyncIterator[None]:
        """Hold the writer slot; `urgent` writes go first."""
        if urgent:
            self._urgent += 1
            self._calm.clear()
            try:
                await self._lock.acquire()
            finally:
                self._urgent -= 1
                if not self._urgent:
                    self._calm.set()
        else:
            # Yield to urgent writes, but for PATIENCE seconds at most: the log must not starve under load.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.PATIENCE
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._calm.wait(), max(0.0, deadline - loop.time()))
                await self._lock.acquire()
                if not self._urgent or loop.time() >= deadline:
                    break
                self._lock.release()  # an urgent write arrived meanwhile: let it go first
        try:
            yield
        finally:
            self._lock.release()


GROUP_BATCH = 200  # small writes per shared transaction at most

Op = Callable[[AsyncConnection], Awaitable[Any]]
# Writes of one kind that can run as one statement for many: `many(connection, items)` gives one result per
# item, in order.
Many = Callable[[AsyncConnection, list[Any]], Awaitable[list[Any]]]


class _GroupWriter:
    """Small writes of concurrent callers (a subscription, a consent) share one transaction: one commit,
    one turn of SQLite's single writer, instead of one each. When one write fails, the group is rolled back
    and each write runs again in a transaction of its own, so that it fails alone (cheaper than a
    SAVEPOINT around each)."""

    def __init__(self, db: Store):
        self.db = db
        self._queue: list[tuple[Op, asyncio.Future[Any], tuple[Many, Any] | None]] = []
        self._flusher: asyncio.Task | None = None

    async def run(self, op: Op, many: tuple[Many, Any] | None = None) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((op, future, many))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the callers of this turn of the event loop join
        while self._queue:
            batch, self._queue = self._queue[:GROUP_BATCH], self._queue[GROUP_BATCH:]
            try:
                results = await self._together(batch)
            except Exception:
                if len(batch) == 1:
                    results = [await self._alone(batch[0][0])]
                else:
                    # One write failed (a row deleted meanwhile...): the group was rolled back; each write
                    # again in its own transaction, so that it fails alone.
                    results = [await self._alone(op) for op, _, _ in batch]
            for (_, future, _many), (value, error) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(value)

    async def _together(self, batch: list[tuple[Op, asyncio.Future[Any], tuple[Many, Any] | None]]
                        ) -> list[tuple[Any, None]]:
        results: list[tuple[Any, None]] = [(None, None)] * len(batch)
        kinds: dict[Many, list[int]] = {}
        async with self.db.writing(), self.db.engine.begin() as conn:
            for i, (op, _, many) in enumerate(batch):
                if many is None:
                    results[i] = (await op(conn), None)
                else:
                    kinds.setdefault(many[0], []).append(i)
            for run_many, positions in kinds.items():
                values = await run_many(conn, [batch[i][2][1] for i in positions])  # type: ignore[index]
                for i, value in zip(positions, values, strict=True):
                    results[i] = (value, None)
        return results

    async def _alone(self, op: Op) -> tuple[Any, BaseException | None]:
        try:
            async with self.db.writing(), self.db.engine.begin() as conn:
                return await op(conn), None
        except Exception as exc:
            return None, exc

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher


class Store:
    """The unit the composition root builds once per engine; each repository method is its own transaction."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None):
        """Repositories over `engine`; `clock` gives every timestamp written."""
        self.engine = engine
        self.clock = clock or SystemClock()
        self._sessions = sessionmaker(engine)
        # SQLite has one writer at a time and makes a blocked writer sleep and retry (1, 2, 5, 10... ms);
        # the conversation's own hot writes queue here instead, where the next one starts the moment the
        # previous commits. (On PostgreSQL they simply run concurrently.)
        self._sqlite_writes = _WriteGate() if engine.dialect.name == "sqlite" else None
        self._grouped = _GroupWriter(self)
        self._writers: list[Callable[[], Awaitable[None]]] = []  # see add_writer
        self.users = Users(self)
        self.subscriptions = Subscriptions(self)
        self.questions = Questions(self)
        self.cases = Cases(self)
        self.kv = KeyValues(self)
        self.dedup = Dedup(self)
        self.privacy = PersonalData(self)
        self.audit = Audit(self)
        self.stats = Stats(self)
        self.quiz = QuizResults(self)
        self.leads = Leads(self)
        self.staff = StaffAccounts(self)
        self.console_audit = ConsoleAuditLog(self)
        self.gap_resolutions = GapResolutions(self)

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL, False on SQLite."""
        return self.engine.dialect.name == "postgresql"

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT (it has ON CONFLICT DO NOTHING, which SQLAlchemy's generic one lacks)."""
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @asynccontextmanager
    async def writing(self, urgent: bool = True) -> AsyncIterator[None]:
        """On SQLite, wait for the single writer slot (urgent writes first); on PostgreSQL, nothing."""
        if self._sqlite_writes is None:
            yield
        else:
            async with self._sqlite_writes.hold(urgent):
                yield

    async def grouped(self, op: Op) -> Any:
        """Run `op(connection)` (Core statements, no commit) in a transaction shared with the other small
        writes queued meanwhile; returns what `op` returns, raises what it raised."""
        return await self._grouped.run(op)

    async def grouped_many(self, run_many: Many, item: Any) -> Any:
        """As `grouped`, for a write of a kind that runs as one statement for many: in the shared
        transaction, the queued items of `run_many` are written by one `run_many(connection, items)`; when
        that transaction fails, each runs again alone (a batch of one). Returns this item's result."""
        async def alone(conn: AsyncConnection) -> Any:
            return (await run_many(conn, [item]))[0]

        return await self._grouped.run(alone, (run_many, item))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """An ORM session inside one transaction, committed on exit."""
        async with self._sessions() as session, session.begin():
            yield session

    def add_writer(self, flush: Callable[[], Awaitable[None]]) -> None:
        """Register another queued writer (the web mailbox) whose queue `flush` must also wait for: what a
        person said and is still queued must not outlive the deletion of their data."""
        self._writers.append(flush)

    async def flush(self, give_up_after: float | None = None) -> int:
        """Wait for the registered writers' queues, then the question log's (see Questions.flush); returns
        how many questions are still unwritten."""
        for flush in self._writers:
            with contextlib.suppress(TimeoutError):  # shutting down with the database away: give up too
                await asyncio.wait_for(asyncio.shield(flush()), give_up_after)
        return await self.questions.flush(give_up_after)

    async def close(self) -> None:
        """Stop the background writers (after `flush`; anything still queued is not written)."""
        await self.questions.close()
        await self.users.close()
        await self._grouped.close()
