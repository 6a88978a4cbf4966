"""The repository: every read and write the conversation needs, as small async methods."""

from __future__ import annotations

import json
import logging
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
from bot.storage.models import (
    ConversationState,
    Delivery,
    HandoffCase,
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


@dataclass
class State:
    """A user's place in a multi-step flow; `flow` None means no flow is running."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Store:
    """Async repository over one engine. Each method is its own transaction."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None):
        self.engine = engine
        self.clock = clock or SystemClock()
        self._sessions = sessionmaker(engine)

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
        async with self.session() as s:
            row = QuestionLog(user_id=user_id, channel=channel, text=text[:MAX_LOGGED_TEXT],
                              normalized=normalized[:MAX_LOGGED_TEXT], content_id=content_id,
                              score=round(float(score), 4), answered=answered, asked_at=self.clock.now())
            s.add(row)
            await s.flush()
            return row.id

    async def set_feedback(self, question_id: int, user_id: int, value: int) -> bool:
        """Record 👍 (+1) or 👎 (-1) on the user's own question; False if it is not theirs."""
        async with self.session() as s:
            result = await s.execute(
                sa.update(QuestionLog)
                .where(QuestionLog.id == question_id, QuestionLog.user_id == user_id)
                .values(feedback=1 if value > 0 else -1, feedback_at=self.clock.now())
            )
            return result.rowcount == 1

    async def recent_questions(self, user_id: int, limit: int = 5) -> list[QuestionLog]:
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

    async def close_case(self, case_id: int) -> None:
        async with self.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id)
                            .values(status="closed", closed_at=self.clock.now()))

    # --- privacy -------------------------------------------------------------------------------

    async def user_data(self, user_id: int) -> dict[str, Any]:
        """What is stored about a user, for /xoadulieu."""
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
