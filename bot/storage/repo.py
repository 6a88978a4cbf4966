"""The repository: every read and write the conversation needs, as small async methods."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.clock import Clock, SystemClock
from bot.storage.db import sessionmaker
from bot.storage.mailbox import clear_statement as clear_mailbox
from bot.storage.models import (
    ConversationState,
    Delivery,
    HandoffCase,
    HandoffMessage,
    KeyValue,
    ProcessedUpdate,
    QuestionLog,
    StaffAudit,
    Subscription,
    SubscriptionEvent,
    User,
)
from bot.types import UserRef

log = logging.getLogger(__name__)

MAX_LOGGED_TEXT = 4000
# `enter` refreshes last_seen_at at most this often: one write per message would make every answer
# wait for SQLite's single writer, and "last seen" needs no finer grain.
LAST_SEEN_GRAIN = timedelta(seconds=60)
QUESTION_BATCH = 500  # questions per group-committed transaction at most
QUESTION_LINGER = 0.05  # seconds queued questions may wait to be written together
RECENTLY_DELETED = 10_000  # user ids remembered for the dispatcher (see Store.recently_deleted)
QUESTION_RETRY_MIN, QUESTION_RETRY_MAX = 0.5, 30.0  # seconds between tries while the database is away
ENTER_BATCH = 200  # users read by one shared query at most


class _WriteGate:
    """One SQLite writer at a time, urgent writes first: what an answer waits on (the update dedup, a new
    user's row) goes before background writes (the question log), which wait while urgent ones queue."""

    PATIENCE = 1.0  # seconds

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._urgent = 0
        self._calm = asyncio.Event()
        self._calm.set()

    @asynccontextmanager
    async def hold(self, urgent: bool) -> AsyncIterator[None]:
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


@dataclass
class State:
    """A user's place in a multi-step flow; `flow` None means no flow is running."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def chat_key(channel: str, chat_id: str, name: str) -> str:
    """The kv key of per-chat state a channel adapter keeps (e.g. the menu last shown): deleted with the
    person's data (`Store.delete_user_data`), so every adapter names such state this way. Chat ids longer
    than 32 characters are hashed so that the key fits kv.key (64 characters, names up to 16)."""
    if len(chat_id) > 32:
        chat_id = "#" + hashlib.sha256(chat_id.encode("utf-8")).hexdigest()[:31]
    return f"chat:{channel}:{chat_id}:{name}"


class Store:
    """Async repository over one engine. Each method is its own transaction."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None):
        self.engine = engine
        self.clock = clock or SystemClock()
        self._sessions = sessionmaker(engine)
        self._question_queue: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._enter_queue: list[tuple[UserRef, str | None, asyncio.Future]] = []
        # SQLite has one writer at a time and makes a blocked writer sleep and retry (1, 2, 5, 10... ms);
        # the conversation's own hot writes queue here instead, where the next one starts the moment the
        # previous commits. (On PostgreSQL they simply run concurrently.)
        self._sqlite_writes = _WriteGate() if engine.dialect.name == "sqlite" else None
        self._enter_flusher: asyncio.Task | None = None
        self._question_flusher: asyncio.Task | None = None
        self._question_retry = 0.0  # current wait between tries while the database is away
        # Users who deleted their data in this process lately: a broadcast row already claimed for
        # them (in a dispatcher's queue) must not go out (scheduler.dispatcher checks this).
        self.recently_deleted: OrderedDict[int, None] = OrderedDict()
        self._flush_now = asyncio.Event()

    @asynccontextmanager
    async def _writing(self, urgent: bool = True) -> AsyncIterator[None]:
        if self._sqlite_writes is None:
            yield
        else:
            async with self._sqlite_writes.hold(urgent):
                yield

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    # --- users ---------------------------------------------------------------------------------

    async def touch_user(self, ref: UserRef, display_name: str | None = None) -> User:
        """Get or create the user, update last-seen; a user who writes again is active again."""
        now = self.clock.now()
        for _ in range(2):
            try:
                async with self.session() as s:
                    user = (await s.execute(
                        sa.select(User).where(User.channel == ref.channel, User.platform_id == ref.user_id)
                    )).scalar_one_or_none()
                    if user is None:
                        user = User(channel=ref.channel, platform_id=ref.user_id, created_at=now, last_seen_at=now,
                                    display_name=(display_name or None) and display_name[:128])
                        s.add(user)
                        await s.flush()
                    else:
                        user.last_seen_at = now
                        if not user.active:
                            user.active, user.inactive_reason = True, None
                        if display_name and user.display_name != display_name[:128]:
                            user.display_name = display_name[:128]
                    return user
            except IntegrityError:  # created concurrently by another update of the same user
                continue
        raise RuntimeError(f"could not create user {ref}")

    async def enter(self, ref: UserRef, display_name: str | None = None) -> tuple[User, State]:
        """The user (created on first contact, reactivated if marked inactive) and their flow state.

        On the hot path of every message. Concurrent calls share one Core SELECT (users LEFT JOIN states),
        the way log_question shares its commit, and write only when something changed or last_seen_at is
        older than LAST_SEEN_GRAIN: per-query overhead, not SQL, is what limits a busy bot on SQLite."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[User, State]] = loop.create_future()
        self._enter_queue.append((ref, display_name, future))
        if self._enter_flusher is None or self._enter_flusher.done():
            self._enter_flusher = loop.create_task(self._flush_enters())
        return await future

    async def _flush_enters(self) -> None:
        while self._enter_queue:
            batch, self._enter_queue = self._enter_queue[:ENTER_BATCH], self._enter_queue[ENTER_BATCH:]
            try:
                results = await self._enter_many([(ref, name) for ref, name, _ in batch])
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _enter_many(self, requests: list[tuple[UserRef, str | None]]) -> list[tuple[User, State]]:
        U, S = User.__table__, ConversationState.__table__
        now = self.clock.now()
        keys = list(dict.fromkeys((ref.channel, ref.user_id) for ref, _ in requests))
        query = (sa.select(U, S.c.flow, S.c.step, S.c.data)
                 .select_from(U.outerjoin(S, S.c.user_id == U.c.id))
                 .where(sa.tuple_(U.c.channel, U.c.platform_id).in_(keys)))
        async with self.engine.connect() as conn:
            rows = {(r.channel, r.platform_id): r for r in (await conn.execute(query)).all()}
        missing = [key for key in keys if key not in rows]
        if missing:
            # First contact of several people at once (a campaign brings hundreds): one INSERT for all,
            # safe against another process creating the same person (ON CONFLICT DO NOTHING).
            names = {(ref.channel, ref.user_id): (name or None) and name[:128] for ref, name in requests}
            new_rows = [{"channel": ch, "platform_id": pid, "display_name": names.get((ch, pid)), "consent": "none",
                         "active": True, "created_at": now, "last_seen_at": now} for ch, pid in missing]
            if self.engine.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            async with self._writing(), self.engine.begin() as conn:
                await conn.execute(insert(U).values(new_rows).on_conflict_do_nothing(
                    index_elements=["channel", "platform_id"]))
                again = query.where(sa.tuple_(U.c.channel, U.c.platform_id).in_(missing))
                rows.update({(r.channel, r.platform_id): r for r in (await conn.execute(again)).all()})
        found: dict[tuple[str, str], tuple[User, State]] = {}
        updates: dict[int, dict[str, Any]] = {}
        for (channel, platform_id), row in rows.items():
            values = dict(row._mapping)
            flow, step, data = values.pop("flow"), values.pop("step"), values.pop("data")
            state = State(flow, step, json.loads(data or "{}")) if (flow or step or data) else State()
            found[(channel, platform_id)] = (User(**values), state)
        results: list[tuple[User, State]] = []
        for ref, display_name in requests:
            key = (ref.channel, ref.user_id)
            if key not in found:  # deleted between the insert and the read: the careful path
                found[key] = (await self.touch_user(ref, display_name), State())
                results.append(found[key])
                continue
            user, state = found[key]
            name = (display_name or None) and display_name[:128]
            changes = updates.setdefault(user.id, {})
            if not user.active:
                changes.update(active=True, inactive_reason=None)
            if name and user.display_name != name:
                changes["display_name"] = name
            if now - user.last_seen_at >= LAST_SEEN_GRAIN:
                changes["last_seen_at"] = now
            for field_name, value in changes.items():
                setattr(user, field_name, value)
            results.append((user, state))
        pending = {uid: ch for uid, ch in updates.items() if ch}
        if pending:
            async with self._writing(), self.engine.begin() as conn:
                for uid, changes in pending.items():
                    await conn.execute(sa.update(U).where(U.c.id == uid).values(**changes))
        return results

    async def get_user(self, ref: UserRef) -> User | None:
        async with self.session() as s:
            return (await s.execute(
                sa.select(User).where(User.channel == ref.channel, User.platform_id == ref.user_id)
            )).scalar_one_or_none()

    async def get_user_by_id(self, user_id: int) -> User | None:
        async with self.session() as s:
            return await s.get(User, user_id)

    async def update_user(self, user_id: int, **values: Any) -> None:
        async with self.session() as s:
            await s.execute(sa.update(User).where(User.id == user_id).values(**values))

    async def mark_inactive(self, ref: UserRef, reason: str) -> None:
        """The platform says we can no longer reach this user (blocked, deactivated, unfollowed)."""
        async with self.session() as s:
            await s.execute(
                sa.update(User)
                .where(User.channel == ref.channel, User.platform_id == ref.user_id)
                .values(active=False, inactive_reason=reason[:200])
            )
        log.info("user %s marked inactive: %s", ref, reason)

    # --- conversation state --------------------------------------------------------------------

    async def get_state(self, user_id: int) -> State:
        async with self.session() as s:
            row = await s.get(ConversationState, user_id)
            if row is None:
                return State()
            return State(row.flow, row.step, json.loads(row.data or "{}"))

    async def set_state(self, user_id: int, flow: str | None, step: str | None = None,
                        data: dict[str, Any] | None = None) -> None:
        async with self.session() as s:
            row = await s.get(ConversationState, user_id)
            payload = json.dumps(data or {}, ensure_ascii=False)
            if row is None:
                s.add(ConversationState(user_id=user_id, flow=flow, step=step, data=payload,
                                        updated_at=self.clock.now()))
            else:
                row.flow, row.step, row.data, row.updated_at = flow, step, payload, self.clock.now()

    async def clear_state(self, user_id: int) -> None:
        await self.set_state(user_id, None, None, {})

    # --- subscriptions -------------------------------------------------------------------------

    async def subscribe(self, user_id: int, topic: str, channel: str) -> bool:
        """Subscribe; returns False when already subscribed. Every change is recorded."""
        now = self.clock.now()
        async with self.session() as s:
            sub = (await s.execute(
                sa.select(Subscription).where(Subscription.user_id == user_id, Subscription.topic == topic)
            )).scalar_one_or_none()
            if sub is not None and sub.active:
                return False
            if sub is None:
                s.add(Subscription(user_id=user_id, topic=topic, channel=channel, created_at=now, updated_at=now))
            else:
                sub.active, sub.channel, sub.updated_at = True, channel, now
            s.add(SubscriptionEvent(user_id=user_id, topic=topic, action="subscribe", channel=channel, at=now))
            return True

    async def unsubscribe(self, user_id: int, topic: str | None, channel: str) -> list[str]:
        """Unsubscribe from one topic (or all when None); returns the topics actually left."""
        now = self.clock.now()
        async with self.session() as s:
            query = sa.select(Subscription).where(Subscription.user_id == user_id, Subscription.active.is_(True))
            if topic is not None:
                query = query.where(Subscription.topic == topic)
            subs = (await s.execute(query.order_by(Subscription.topic))).scalars().all()
            for sub in subs:
                sub.active, sub.updated_at = False, now
                s.add(SubscriptionEvent(user_id=user_id, topic=sub.topic, action="unsubscribe", channel=channel,
                                        at=now))
            return sorted(sub.topic for sub in subs)

    async def subscriptions(self, user_id: int) -> list[str]:
        async with self.session() as s:
            rows = await s.execute(
                sa.select(Subscription.topic)
                .where(Subscription.user_id == user_id, Subscription.active.is_(True))
                .order_by(Subscription.topic)
            )
            return list(rows.scalars())

    # --- questions -----------------------------------------------------------------------------

    async def log_question(self, user_id: int | None, channel: str, text: str, normalized: str,
                           content_id: str | None, score: float, answered: bool) -> int:
        """Log a question; returns its id. Concurrent calls share one transaction (group commit): on SQLite
        one writer at a time, so a commit per question would cap the whole conversation's throughput."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue_question(user_id, channel, text, normalized, content_id, score, answered, future)
        return await future

    def log_question_later(self, user_id: int | None, channel: str, text: str, normalized: str,
                           content_id: str | None, score: float, answered: bool) -> None:
        """Log a question without waiting for the commit (the answer need not wait for the log): written
        with the next group commit; `flush()` waits for it, and every read of questions flushes first."""
        self._queue_question(user_id, channel, text, normalized, content_id, score, answered, None)

    def _queue_question(self, user_id, channel, text, normalized, content_id, score, answered, future) -> None:
        row = {"user_id": user_id, "channel": channel, "text": text[:MAX_LOGGED_TEXT],
               "normalized": normalized[:MAX_LOGGED_TEXT], "content_id": content_id,
               "score": round(float(score), 4), "answered": answered, "asked_at": self.clock.now()}
        self._question_queue.append((row, future))
        if self._question_flusher is None or self._question_flusher.done():
            self._question_flusher = asyncio.get_running_loop().create_task(self._flush_questions())

    async def flush(self, give_up_after: float | None = None) -> int:
        """Wait until every queued question is written (before reading questions, deleting, shutting down).
        With `give_up_after` (shutting down while the database is away), stop waiting after that many seconds;
        returns how many questions are still unwritten."""
        async def wait() -> None:
            while self._question_flusher is not None and not self._question_flusher.done():
                self._flush_now.set()
                await asyncio.shield(self._question_flusher)

        try:
            await asyncio.wait_for(wait(), give_up_after)
        except TimeoutError:
            pass
        return len(self._question_queue)

    async def close(self) -> None:
        """Stop the background writers (after `flush`; anything still queued is not written)."""
        for task in (self._question_flusher, self._enter_flusher):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _flush_questions(self) -> None:
        """Write queued questions in batches until the queue is empty; callers wait on their own future.
        When nobody waits for an id, linger a little first: fewer, larger commits leave the single SQLite
        writer free for what answers do wait on (new users, the update dedup)."""
        if all(future is None for _, future in self._question_queue):
            self._flush_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), QUESTION_LINGER)
        while self._question_queue:
            batch, self._question_queue = self._question_queue[:QUESTION_BATCH], self._question_queue[QUESTION_BATCH:]
            try:
                ids = await self._insert_questions([row for row, _ in batch])
            except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
                # The database is away (restarting, unreachable, locked): keep the questions and try
                # again, waiting longer each time; they are the content-gap report's raw material.
                self._question_queue[:0] = batch
                self._question_retry = min(QUESTION_RETRY_MAX, max(QUESTION_RETRY_MIN, self._question_retry * 2))
                log.warning("question log: database unavailable (%s); %d question(s) kept, retry in %.0f s",
                            type(exc).__name__, len(self._question_queue), self._question_retry)
                await asyncio.sleep(self._question_retry)
                continue
            except Exception:
                # One bad row (its user deleted meanwhile, say) must not lose the others: one by one.
                for row, future in batch:
                    try:
                        (ident,) = await self._insert_questions([row])
                    except Exception as exc:
                        log.warning("question not logged (%s): %r", exc, row["text"][:80])
                        if future is not None and not future.done():
                            future.set_exception(exc)
                    else:
                        if future is not None and not future.done():
                            future.set_result(ident)
                continue
            self._question_retry = 0.0
            for (_, future), ident in zip(batch, ids, strict=True):
                if future is not None and not future.done():
                    future.set_result(ident)

    async def _insert_questions(self, rows: list[dict[str, Any]]) -> list[int]:
        Q = QuestionLog.__table__
        async with self._writing(urgent=False), self.engine.begin() as conn:
            result = await conn.execute(sa.insert(Q).returning(Q.c.id, sort_by_parameter_order=True), rows)
            return list(result.scalars())

    async def set_feedback_latest(self, user_id: int, content_id: str, value: int) -> bool:
        """Record 👍 (+1) or 👎 (-1) on the user's latest question answered with `content_id`."""
        await self.flush()
        Q = QuestionLog.__table__
        latest = (sa.select(sa.func.max(Q.c.id)).where(Q.c.user_id == user_id, Q.c.content_id == content_id)
                  .scalar_subquery())
        async with self.session() as s:
            result = await s.execute(sa.update(QuestionLog).where(QuestionLog.id == latest)
                                     .values(feedback=1 if value > 0 else -1, feedback_at=self.clock.now()))
            return result.rowcount == 1

    async def latest_question(self, user_id: int, answered: bool | None = None) -> QuestionLog | None:
        """The user's most recent question (optionally only answered / unanswered ones)."""
        await self.flush()
        query = sa.select(QuestionLog).where(QuestionLog.user_id == user_id)
        if answered is not None:
            query = query.where(QuestionLog.answered.is_(answered))
        async with self.session() as s:
            return (await s.execute(query.order_by(QuestionLog.id.desc()).limit(1))).scalar_one_or_none()

    async def set_feedback(self, question_id: int, user_id: int, value: int) -> bool:
        """Record 👍 (+1) or 👎 (-1) on the user's own question; False if it is not theirs."""
        await self.flush()  # questions still queued for the group commit
        async with self.session() as s:
            result = await s.execute(
                sa.update(QuestionLog)
                .where(QuestionLog.id == question_id, QuestionLog.user_id == user_id)
                .values(feedback=1 if value > 0 else -1, feedback_at=self.clock.now())
            )
            return result.rowcount == 1

    async def recent_questions(self, user_id: int, limit: int = 5) -> list[QuestionLog]:
        await self.flush()  # questions still queued for the group commit
        async with self.session() as s:
            rows = await s.execute(
                sa.select(QuestionLog).where(QuestionLog.user_id == user_id)
                .order_by(QuestionLog.id.desc()).limit(limit)
            )
            return list(reversed(rows.scalars().all()))

    # --- handoff -------------------------------------------------------------------------------

    async def open_case(self, user_id: int, question: str) -> HandoffCase:
        async with self.session() as s:
            case = (await s.execute(
                sa.select(HandoffCase).where(HandoffCase.user_id == user_id, HandoffCase.status == "open")
            )).scalar_one_or_none()
            if case is None:
                case = HandoffCase(user_id=user_id, question=question[:MAX_LOGGED_TEXT], opened_at=self.clock.now())
                s.add(case)
                await s.flush()
            return case

    async def set_case_message(self, case_id: int, chat_id: str, message_id: str) -> None:
        async with self.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id)
                            .values(staff_chat_id=chat_id, staff_message_id=message_id))

    async def open_case_for(self, user_id: int) -> HandoffCase | None:
        async with self.session() as s:
            return (await s.execute(
                sa.select(HandoffCase).where(HandoffCase.user_id == user_id, HandoffCase.status == "open")
            )).scalar_one_or_none()

    async def case_by_staff_message(self, chat_id: str, message_id: str) -> HandoffCase | None:
        async with self.session() as s:
            return (await s.execute(
                sa.select(HandoffCase).where(HandoffCase.staff_chat_id == chat_id,
                                             HandoffCase.staff_message_id == message_id)
            )).scalar_one_or_none()

    async def get_case(self, case_id: int) -> HandoffCase | None:
        async with self.session() as s:
            return await s.get(HandoffCase, case_id)

    async def link_case_message(self, case_id: int, chat_id: str, message_id: str) -> None:
        """Remember a staff-chat message about a case (its card or a follow-up) so replies to it find the case."""
        try:
            async with self.session() as s:
                s.add(HandoffMessage(case_id=case_id, chat_id=chat_id, message_id=message_id, at=self.clock.now()))
        except IntegrityError:
            pass  # already linked

    async def case_for_message(self, chat_id: str, message_id: str) -> HandoffCase | None:
        """The case a staff-chat message belongs to: the card itself or any linked follow-up."""
        case = await self.case_by_staff_message(chat_id, message_id)
        if case is not None:
            return case
        async with self.session() as s:
            return (await s.execute(
                sa.select(HandoffCase).join(HandoffMessage, HandoffMessage.case_id == HandoffCase.id)
                .where(HandoffMessage.chat_id == chat_id, HandoffMessage.message_id == message_id)
            )).scalar_one_or_none()

    async def close_case(self, case_id: int) -> None:
        async with self.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id)
                            .values(status="closed", closed_at=self.clock.now()))

    # --- privacy -------------------------------------------------------------------------------

    async def user_data(self, user_id: int) -> dict[str, Any]:
        """What is stored about a user, for /xoadulieu."""
        await self.flush()  # questions still queued for the group commit
        async with self.session() as s:
            user = await s.get(User, user_id)
            topics = (await s.execute(sa.select(Subscription.topic).where(
                Subscription.user_id == user_id, Subscription.active.is_(True)))).scalars().all()
            questions = (await s.execute(sa.select(sa.func.count()).select_from(QuestionLog)
                                         .where(QuestionLog.user_id == user_id))).scalar_one()
            events = (await s.execute(sa.select(sa.func.count()).select_from(SubscriptionEvent)
                                      .where(SubscriptionEvent.user_id == user_id))).scalar_one()
            cases = (await s.execute(sa.select(sa.func.count()).select_from(HandoffCase)
                                     .where(HandoffCase.user_id == user_id))).scalar_one()
            return {
                "channel": user.channel if user else None,
                "role": user.role if user else None,
                "created_at": user.created_at if user else None,
                "topics": sorted(topics),
                "questions": questions,
                "subscription_events": events,
                "handoff_cases": cases,
            }

    async def delete_user_data(self, user_id: int) -> None:
        """Delete the user and everything linked to them; questions stay, unlinked, for statistics."""
        self.recently_deleted[user_id] = None
        while len(self.recently_deleted) > RECENTLY_DELETED:
            self.recently_deleted.popitem(last=False)
        await self.flush()  # questions still queued for the group commit
        async with self.session() as s:
            await s.execute(sa.update(QuestionLog).where(QuestionLog.user_id == user_id).values(user_id=None))
            # Pending broadcast deliveries to this person are dropped; finished ones keep their status
            # for the counts but lose the platform id.
            await s.execute(sa.update(Delivery).where(Delivery.user_id == user_id, Delivery.status == "pending")
                            .values(status="skipped", last_error="user deleted their data"))
            await s.execute(sa.update(Delivery).where(Delivery.user_id == user_id)
                            .values(user_id=None, platform_id="deleted"))
            for model in (SubscriptionEvent, Subscription, ConversationState, HandoffCase):
                await s.execute(sa.delete(model).where(model.user_id == user_id))
            user = await s.get(User, user_id)
            if user is not None:  # what channel adapters keep about the chat (menus shown, button labels)
                prefix = chat_key(user.channel, user.platform_id, "")
                await s.execute(sa.delete(KeyValue).where(KeyValue.key.startswith(prefix, autoescape=True)))
                await s.execute(clear_mailbox(user.channel, user.platform_id))  # the web chat's messages
            await s.execute(sa.delete(User).where(User.id == user_id))

    # --- small service state -------------------------------------------------------------------

    async def kv_get(self, key: str) -> str | None:
        async with self.session() as s:
            row = await s.get(KeyValue, key)
            return row.value if row else None

    async def kv_setdefault(self, key: str, value: str) -> str:
        """Store `value` unless the key exists; return what is stored (safe against races)."""
        try:
            async with self.session() as s:
                existing = await s.get(KeyValue, key)
                if existing is not None:
                    return existing.value
                s.add(KeyValue(key=key, value=value, updated_at=self.clock.now()))
                return value
        except IntegrityError:
            stored = await self.kv_get(key)
            assert stored is not None
            return stored

    async def kv_set(self, key: str, value: str) -> None:
        async with self.session() as s:
            row = await s.get(KeyValue, key)
            if row is None:
                s.add(KeyValue(key=key, value=value, updated_at=self.clock.now()))
            else:
                row.value, row.updated_at = value, self.clock.now()

    async def first_time(self, source: str, key: str) -> bool:
        """True the first time (source, key) is seen; False for a redelivered update."""
        try:
            async with self.session() as s:
                s.add(ProcessedUpdate(source=source, key=key[:128], seen_at=self.clock.now()))
            return True
        except IntegrityError:
            return False

    async def first_times(self, source: str, keys: list[str]) -> set[str]:
        """The keys of `keys` never seen before (now recorded), in one statement: a batch of polled updates
        costs one transaction. Safe against concurrent callers (ON CONFLICT DO NOTHING)."""
        if not keys:
            return set()
        now = self.clock.now()
        rows = [{"source": source, "key": key[:128], "seen_at": now} for key in dict.fromkeys(keys)]
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = (insert(ProcessedUpdate).values(rows)
                .on_conflict_do_nothing(index_elements=["source", "key"])
                .returning(ProcessedUpdate.key))
        async with self._writing(), self.engine.begin() as conn:
            fresh = set((await conn.execute(stmt)).scalars())
        return {key for key in keys if key[:128] in fresh}

    async def prune_processed(self, older_than: timedelta) -> int:
        async with self.session() as s:
            result = await s.execute(sa.delete(ProcessedUpdate)
                                     .where(ProcessedUpdate.seen_at < self.clock.now() - older_than))
            return result.rowcount or 0

    async def audit(self, ref: UserRef, command: str, allowed: bool) -> None:
        async with self.session() as s:
            s.add(StaffAudit(channel=ref.channel, platform_id=ref.user_id, command=command[:64], allowed=allowed,
                             at=self.clock.now()))

    # --- statistics ----------------------------------------------------------------------------

    async def stats(self, since: datetime) -> dict[str, Any]:
        """Users by role and channel, subscribers per topic, questions since `since`, share answered."""
        await self.flush()  # questions still queued for the group commit
        async with self.session() as s:
            by_role = dict((await s.execute(
                sa.select(sa.func.coalesce(User.role, "chưa chọn"), sa.func.count()).group_by(User.role)
            )).all())
            by_channel = dict((await s.execute(
                sa.select(User.channel, sa.func.count()).group_by(User.channel)
            )).all())
            per_topic = dict((await s.execute(
                sa.select(Subscription.topic, sa.func.count())
                .join(User, User.id == Subscription.user_id)
                .where(Subscription.active.is_(True), User.active.is_(True))
                .group_by(Subscription.topic)
            )).all())
            asked, answered = (await s.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((QuestionLog.answered, 1),
                                                                                else_=0)), 0))
                .where(QuestionLog.asked_at >= since)
            )).one()
            inactive = (await s.execute(sa.select(sa.func.count()).select_from(User)
                                        .where(User.active.is_(False)))).scalar_one()
            return {
                "users_by_role": by_role,
                "users_by_channel": by_channel,
                "subscribers_by_topic": per_topic,
                "questions": int(asked),
                "answered": int(answered),
                "inactive_users": int(inactive),
            }
