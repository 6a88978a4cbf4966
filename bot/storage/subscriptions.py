"""Topic subscriptions, with every change recorded (time and channel)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
        """Subscribe; returns False when already subscribed. Every change is recorded. Written with the
        subscriptions of the same moment in a transaction shared with other small writes
        (Store.grouped_many): 6,000 people subscribing at once from a QR code must not each wait for a
        commit, or a few statements, of their own."""
        return await self.db.grouped_many(self._add_many, (user_id, topic, channel, self.db.clock.now()))

    async def _add_many(self, conn, items: list[tuple[int, str, str, Any]]) -> list[bool]:
        """`add` for many at once (the sign-up rush): one INSERT for the new subscriptions, one SELECT and
        UPDATE for those that exist, one INSERT for the events."""
        S, E = Subscription.__table__, SubscriptionEvent.__table__
        first: dict[tuple[int, str], int] = {}
        for i, (user_id, topic, _channel, _now) in enumerate(items):
            first.setdefault((user_id, topic), i)  # the same twice: the second finds it subscribed
        rows = [{"user_id": u, "topic": t, "channel": c, "active": True, "created_at": n, "updated_at": n}
                for u, t, c, n in (items[i] for i in first.values())]
        created = {(r.user_id, r.topic) for r in await conn.execute(
            self.db.insert(S).values(rows).on_conflict_do_nothing(index_elements=["user_id", "topic"])
            .returning(S.c.user_id, S.c.topic))}
        others = [key for key in first if key not in created]
        revived: set[tuple[int, str]] = set()
        if others:
            held = (await conn.execute(sa.select(S.c.id, S.c.user_id, S.c.topic, S.c.active)
                                       .where(sa.tuple_(S.c.user_id, S.c.topic).in_(others)))).all()
            again = [r for r in held if not r.active]
            if again:
                await conn.execute(
                    sa.update(S).where(S.c.id == sa.bindparam("r_id"))
                    .values(active=True, channel=sa.bindparam("r_channel"), updated_at=sa.bindparam("r_now")),
                    [{"r_id": r.id, "r_channel": items[first[(r.user_id, r.topic)]][2],
                      "r_now": items[first[(r.user_id, r.topic)]][3]} for r in again])
                revived = {(r.user_id, r.topic) for r in again}
        done = created | revived
        if done:
            await conn.execute(sa.insert(E), [
                {"user_id": u, "topic": t, "action": "subscribe", "channel": items[first[(u, t)]][2],
                 "at": items[first[(u, t)]][3]} for u, t in sorted(done, key=lambda k: first[k])])
        return [(key := (u, t)) in done and first[key] == i for i, (u, t, _c, _n) in enumerate(items)]

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

