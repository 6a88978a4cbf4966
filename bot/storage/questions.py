"""The question log and its group-committed writer: what people asked, what was answered, their feedback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.storage.models import QuestionLog

if TYPE_CHECKING:
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

MAX_LOGGED_TEXT = 4000
QUESTION_BATCH = 500  # questions per group-committed transaction at most
QUESTION_LINGER = 0.05  # seconds queued questions may wait to be written together
QUESTION_RETRY_MIN, QUESTION_RETRY_MAX = 0.5, 30.0  # seconds between tries while the database is away
_INSERT_QUESTIONS = sa.insert(QuestionLog.__table__).returning(QuestionLog.__table__.c.id)  # built once


class Questions:
    """Questions are written in batches in the background; every read waits for the queue first."""

    def __init__(self, db: Store):
        """`db`: the shared sessions, clock and write gate."""
        self.db = db
        self._queue: list[tuple[dict[str, Any], asyncio.Future[int] | None]] = []
        self._flusher: asyncio.Task | None = None
        self._retry = 0.0  # current wait between tries while the database is away
        self._flush_now = asyncio.Event()

    @property
    def pending(self) -> int:
        """Questions queued and not yet written (shown in /healthz)."""
        return len(self._queue)

    def waiting_longer_than(self, seconds: float) -> int:
        """Queued questions asked more than `seconds` ago: more than a linger's worth means the writes are
        failing (the database away), which /healthz reports."""
        cutoff = self.db.clock.now() - timedelta(seconds=seconds)
        return sum(1 for row, _ in self._queue if row["asked_at"] < cutoff)

    async def log(self, user_id: int | None, channel: str, text: str, normalized: str,
                           content_id: str | None, score: float, answered: bool) -> int:
        """Log a question; returns its id. Concurrent calls share one transaction (group commit): on SQLite
        one writer at a time, so a commit per question would cap the whole conversation's throughput."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._enqueue(user_id, channel, text, normalized, content_id, score, answered, future)
        return await future

    def log_later(self, user_id: int | None, channel: str, text: str, normalized: str,
                           content_id: str | None, score: float, answered: bool) -> None:
        """Log a question without waiting for the commit (the answer need not wait for the log): written
        with the next group commit; `flush()` waits for it, and every read of questions flushes first."""
        self._enqueue(user_id, channel, text, normalized, content_id, score, answered, None)

    def _enqueue(self, user_id, channel, text, normalized, content_id, score, answered, future) -> None:
        row = {"user_id": user_id, "channel": channel, "text": text[:MAX_LOGGED_TEXT],
               "normalized": normalized[:MAX_LOGGED_TEXT], "content_id": content_id,
               "score": round(float(score), 4), "answered": answered, "asked_at": self.db.clock.now()}
        self._queue.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def flush(self, give_up_after: float | None = None) -> int:
        """Wait until every queued question is written (before reading questions, deleting, shutting down).
        With `give_up_after` (shutting down while the database is away), stop waiting after that many seconds;
        returns how many questions are still unwritten."""
        async def wait() -> None:
            while self._flusher is not None and not self._flusher.done():
                self._flush_now.set()
                await asyncio.shield(self._flusher)

        try:
            await asyncio.wait_for(wait(), give_up_after)
        except TimeoutError:
            pass
        return len(self._queue)

    async def close(self) -> None:
        """Stop the background writer (after `flush`; anything still queued is not written)."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher

    async def _flush(self) -> None:
        """Write queued questions in batches until the queue is empty; callers wait on their own future.
        When nobody waits for an id, linger a little first: fewer, larger commits leave the single SQLite
        writer free for what answers do wait on (new users, the update dedup)."""
        if all(future is None for _, future in self._queue):
            self._flush_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), QUESTION_LINGER)
        while self._queue:
            batch, self._queue = self._queue[:QUESTION_BATCH], self._queue[QUESTION_BATCH:]
            try:
                ids = await self._insert([row for row, _ in batch])
            except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
                # The database is away (restarting, unreachable, locked): keep the questions and try
                # again, waiting longer each time; they are the content-gap report's raw material.
                self._queue[:0] = batch
                self._retry = min(QUESTION_RETRY_MAX, max(QUESTION_RETRY_MIN, self._retry * 2))
                log.warning("question log: database unavailable (%s); %d question(s) kept, retry in %.0f s",
                            type(exc).__name__, len(self._queue), self._retry)
                # A flush() (shutting down, a read) tries again at once rather than after the whole wait.
                self._flush_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flush_now.wait(), self._retry)
                continue
            except Exception:
                # One bad row (its user deleted meanwhile, say) must not lose the others: one by one.
                for row, future in batch:
                    try:
                        (ident,) = await self._insert([row])
                    except Exception as exc:
                        log.warning("question not logged (%s): %r", exc, row["text"][:80])
                        if future is not None and not future.done():
                            future.set_exception(exc)
                    else:
                        if future is not None and not future.done():
                            future.set_result(ident)
                continue
            self._retry = 0.0
            for (_, future), ident in zip(batch, ids, strict=True):
                if future is not None and not future.done():
                    future.set_result(ident)

    async def _insert(self, rows: list[dict[str, Any]]) -> list[int]:
        # One multi-row INSERT ... RETURNING (SQLAlchemy's "insertmanyvalues"): with RETURNING in parameter
        # order it ran one statement per row on SQLite (no sentinel column to sort by). The ids of a
        # multi-row INSERT grow in the order of its rows, so sorted they are the rows' ids in order.
        async with self.db.writing(urgent=False), self.db.engine.begin() as conn:
            result = await conn.execute(_INSERT_QUESTIONS, rows)
            return sorted(result.scalars())

    async def set_feedback_latest(self, user_id: int, content_id: str, value: int) -> bool:
        """Record 👍 (+1) or 👎 (-1) on the user's latest question answered with `content_id`."""
        await self.flush()
        Q = QuestionLog.__table__
        latest = (sa.select(sa.func.max(Q.c.id)).where(Q.c.user_id == user_id, Q.c.content_id == content_id)
                  .scalar_subquery())
        async with self.db.session() as s:
            result = await s.execute(
                sa.update(QuestionLog)
                .where(QuestionLog.id == latest)
                .values(feedback=1 if value > 0 else -1, feedback_at=self.db.clock.now())
            )
            return result.rowcount == 1

    async def latest(self, user_id: int, answered: bool | None = None) -> QuestionLog | None:
        """The user's most recent question (optionally only answered / unanswered ones)."""
        await self.flush()
        query = sa.select(QuestionLog).where(QuestionLog.user_id == user_id)
        if answered is not None:
            query = query.where(QuestionLog.answered.is_(answered))
        async with self.db.session() as s:
            return (await s.execute(query.order_by(QuestionLog.id.desc()).limit(1))).scalar_one_or_none()

    async def set_feedback(self, question_id: int, user_id: int, value: int) -> bool:
        """Record 👍 (+1) or 👎 (-1) on the user's own question; False if it is not theirs."""
        await self.flush()  # questions still queued for the group commit
        async with self.db.session() as s:
            result = await s.execute(
                sa.update(QuestionLog)
                .where(QuestionLog.id == question_id, QuestionLog.user_id == user_id)
                .values(feedback=1 if value > 0 else -1, feedback_at=self.db.clock.now())
            )
            return result.rowcount == 1

    async def recent(self, user_id: int, limit: int = 5) -> list[QuestionLog]:
        """The person's latest `limit` questions, oldest first (those queued for writing included)."""
        await self.flush()  # questions still queued for the group commit
        async with self.db.session() as s:
            rows = await s.execute(
                sa.select(QuestionLog).where(QuestionLog.user_id == user_id)
                .order_by(QuestionLog.id.desc()).limit(limit)
            )
            return list(reversed(rows.scalars().all()))


    async def around(self, text: str, before: int = 3, after: int = 2) -> list[QuestionLog]:
        """The conversation around the latest asking of `text`: that person's questions just before and
        after it (only the question itself when its person deleted their data)."""
        async with self.db.session() as s:
            latest = (await s.execute(sa.select(QuestionLog).where(QuestionLog.text == text)
                                      .order_by(QuestionLog.id.desc()).limit(1))).scalar_one_or_none()
            if latest is None or latest.user_id is None:
                return [latest] if latest is not None else []
            mine = sa.select(QuestionLog).where(QuestionLog.user_id == latest.user_id)
            earlier = (await s.execute(mine.where(QuestionLog.id < latest.id).order_by(QuestionLog.id.desc())
                                       .limit(before))).scalars().all()
            later = (await s.execute(mine.where(QuestionLog.id > latest.id).order_by(QuestionLog.id)
                                     .limit(after))).scalars().all()
            return [*reversed(earlier), latest, *later]
