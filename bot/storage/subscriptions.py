"""Topic subscriptions, with every change recorded (time and channel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from bot.storage.models import Subscription, SubscriptionEvent

if TYPE_CHECKING:
    from bot.storage.repo import Store


class Subscriptions:
    """Who receives which topic's broadcasts."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def add(self, user_id: int, topic: str, channel: str) -> bool:
        """Subscribe; returns False when already subscribed. Every change is recorded."""
        now = self.db.clock.now()
        async with self.db.session() as s:
            sub = (await s.execute(
                sa.select(Subscription).where(Subscription.user_id == user_id, Subscription.topic == topic)
            )).scalar_one_or_none()
            if sub is not None and sub.active:
                return False
            if sub is None:
                s.add(
                    Subscription(
                        user_id=user_id, topic=topic, channel=channel, created_at=now, updated_at=now
                    )
                )
            else:
                sub.active, sub.channel, sub.updated_at = True, channel, now
            s.add(
                SubscriptionEvent(user_id=user_id, topic=topic, action="subscribe", channel=channel, at=now)
            )
            return True

    async def remove(self, user_id: int, topic: str | None, channel: str) -> list[str]:
        """Unsubscribe from one topic (or all when None); returns the topics actually left."""
        now = self.db.clock.now()
        async with self.db.session() as s:
            query = sa.select(Subscription).where(
                Subscription.user_id == user_id, Subscription.active.is_(True)
            )
            if topic is not None:
                query = query.where(Subscription.topic == topic)
            subs = (await s.execute(query.order_by(Subscription.topic))).scalars().all()
            for sub in subs:
                sub.active, sub.updated_at = False, now
                s.add(
                    SubscriptionEvent(
                        user_id=user_id, topic=sub.topic, action="unsubscribe", channel=channel, at=now
                    )
                )
            return sorted(sub.topic for sub in subs)

    async def topics(self, user_id: int) -> list[str]:
        """The topics the person is subscribed to, sorted."""
        async with self.db.session() as s:
            rows = await s.execute(
                sa.select(Subscription.topic)
                .where(Subscription.user_id == user_id, Subscription.active.is_(True))
                .order_by(Subscription.topic)
            )
            return list(rows.scalars())

