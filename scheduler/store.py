"""The scheduler's repository: broadcasts and their delivery rows (the outbox), as small async methods.

Every write that several processes may race on is a single conditional statement (an UPDATE whose
WHERE names the expected status), so two workers or a worker and the CLI never both win.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot.storage.models import Broadcast, Delivery, QuestionLog, Subscription, User
from bot.storage.repo import Store

log = logging.getLogger(__name__)

D = Delivery.__table__
B = Broadcast.__table__
U = User.__table__
S = Subscription.__table__

# The two statements of every flush of the dispatcher (apply), built once: building and caching a
# statement costs about as much as running it on SQLite, and a steady broadcast flushes ~100 times a second.
_MARK_SENDING = (
    sa.update(D)
    .where(D.c.id.in_(sa.bindparam("m_ids", expanding=True)), D.c.status == "pending",
           D.c.leased_by == sa.bindparam("m_worker"))
    .values(status="sending", attempts=D.c.attempts + 1, lease_until=sa.bindparam("m_until"),
            updated_at=sa.bindparam("m_now"))
)
# A row this worker still holds (b_id, b_worker); rows reaped to 'unknown' while their send was in flight
# get the real answer after all.
_MINE = sa.and_(D.c.id == sa.bindparam("b_id"), D.c.leased_by == sa.bindparam("b_worker"),
                sa.or_(*(D.c.status == st for st in ("pending", "sending", "unknown"))))
# What went out is recorded as sent, even if the row was skipped meanwhile (the broadcast cancelled, the
# person's data deleted while the request was on its way): the record must say what happened.
_DELIVERED = sa.and_(D.c.id == sa.bindparam("b_id"), D.c.leased_by == sa.bindparam("b_worker"),
                     sa.or_(*(D.c.status == st for st in ("pending", "sending", "unknown", "skipped"))))
_MARK_SENT = (
    sa.update(D)
    .where(_DELIVERED)
    .values(status="sent", sent_at=sa.bindparam("b_at"), message_id=sa.bindparam("b_mid"), last_error=None,
            attempts=sa.bindparam("b_n"), lease_until=None, updated_at=sa.bindparam("b_now"))
)

FINISHED = ("done", "cancelled", "failed", "missed")
UPCOMING = ("draft", "scheduled", "sending")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "blocked", "skipped", "unknown")
# Channels a broadcast can reach (web: into the visitor's mailbox); the terminal chat cannot receive a push.
BROADCAST_CHANNELS = ("telegram", "zalo_oa", "zalo_bot", "web")
# Deliveries that use up a follower's Zalo OA promotion quota: sent, about to be sent, or maybe sent.
PROMO_COUNTED = ("pending", "sending", "sent", "unknown")
PROMO_CHANNEL = "zalo_oa"


def loads(value: str | None) -> list[Any]:
    """A JSON list column as a list ([] for NULL)."""
    return json.loads(value or "[]")


def dumps(value: Sequence[Any]) -> str:
    """A list as a JSON list column."""
    return json.dumps(list(value), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery row this worker holds a lease on."""

    id: int
    broadcast_id: int
    user_id: int | None
    channel: str
    platform_id: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one send; written back in batches.

    status: sent, pending (retry at `not_before`), failed, blocked, skipped, or release (never sent:
    give the row back, e.g. quiet hours began while it waited). `attempts`: the row's new count.
    """

    id: int
    status: str
    error: str | None = None
    message_id: str | None = None
    at: datetime | None = None
    not_before: datetime | None = None
    attempts: int | None = None


@dataclass(frozen=True, slots=True)
class PromoLimits:
    """Zalo OA's per-follower limits on promotion messages (a verified OA: 4 a month and 1 a day at the
    time of writing; CHONNGHE_ZALO_OA_PROMO_PER_MONTH / _PER_DAY since Zalo changes them). Days and
    months are counted in the city's time zone."""

    per_day: int
    per_month: int
    zone: ZoneInfo

    def windows(self, at: datetime) -> tuple[tuple[datetime, datetime], tuple[datetime, datetime]]:
        """([day start, day end), [month start, month end)) around `at`, as aware datetimes."""
        local = at.astimezone(self.zone)
        day = datetime.combine(local.date(), time(0, 0), tzinfo=self.zone)
        month = day.replace(day=1)
        next_month = (month + timedelta(days=32)).replace(day=1)
        return (day, day + timedelta(days=1)), (month, next_month)


def _promo_used(user_id: Any, window: tuple[datetime, datetime], exclude: int | None = None):
    """How many promotion messages on Zalo OA this user got (or is about to get) inside `window`.
    A delivery counts at its send time, or at its broadcast's start while it is not sent yet."""
    d2, b2 = D.alias("d2"), B.alias("b2")
    when = sa.func.coalesce(d2.c.sent_at, b2.c.started_at)
    query = (sa.select(sa.func.count()).select_from(d2.join(b2, b2.c.id == d2.c.broadcast_id))
             .where(d2.c.user_id == user_id, d2.c.channel == PROMO_CHANNEL, b2.c.promotion.is_(True),
                    d2.c.status.in_(PROMO_COUNTED), when >= window[0], when < window[1]))
    if exclude is not None:
        query = query.where(d2.c.broadcast_id != exclude)
    return query.scalar_subquery()


def promo_reasons(limits: PromoLimits) -> tuple[str, str]:
    """The last_error of a delivery skipped for the day's, and the month's, limit."""
    return (f"Zalo OA promotion limit: {limits.per_day} a day per follower already reached",
            f"Zalo OA promotion limit: {limits.per_month} a month per follower already reached")


def _audience_filter(topics: Sequence[str], roles: Sequence[str], channels: Sequence[str]):
    """WHERE clause over `users`: active, subscribed to one of `topics`, optional roles and channels."""
    sub = sa.select(sa.literal(1)).select_from(S).where(
        S.c.user_id == U.c.id, S.c.active.is_(True), S.c.topic.in_(list(topics)))
    clauses = [U.c.active.is_(True), sa.exists(sub),
               U.c.channel.in_(list(channels) if channels else list(BROADCAST_CHANNELS))]
    if roles:
        clauses.append(U.c.role.in_(list(roles)))
    return sa.and_(*clauses)


class BroadcastStore:
    """Async access to broadcasts and deliveries over the project's Store (same engine, same clock)."""

    def __init__(self, store: Store):
        self.store = store
        self.engine = store.engine
        self.clock = store.clock
        self.is_postgres = self.engine.dialect.name == "postgresql"

    # --- broadcasts ----------------------------------------------------------------------------

    async def create(self, **values: Any) -> Broadcast:
        """Insert a broadcast (list columns given as lists); returns the row."""
        now = self.clock.now()
        values.setdefault("created_at", now)
        values.setdefault("updated_at", now)
        for key in ("topics", "roles", "channels", "buttons"):
            if key in values and not isinstance(values[key], str):
                values[key] = dumps(values[key])
        async with self.store.session() as s:
            row = Broadcast(**values)
            s.add(row)
            await s.flush()
            return row

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """A broadcast by id."""
        async with self.store.session() as s:
            return await s.get(Broadcast, broadcast_id)

    async def by_campaign_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` already have a broadcast (the calendar's once-only check)."""
        keys = list(keys)
        if not keys:
            return set()
        async with self.store.session() as s:
            rows = await s.execute(sa.select(Broadcast.campaign_key).where(Broadcast.campaign_key.in_(keys)))
            return {k for k in rows.scalars() if k}

    async def update(self, broadcast_id: int, expect: Sequence[str] | None = None, **values: Any) -> bool:
        """Change a broadcast if its status is one of `expect`; True when it was changed."""
        for key in ("topics", "roles", "channels", "buttons"):
            if key in values and not isinstance(values[key], str):
                values[key] = dumps(values[key])
        values.setdefault("updated_at", self.clock.now())
        query = sa.update(B).where(B.c.id == broadcast_id).values(**values)
        if expect is not None:
            query = query.where(B.c.status.in_(list(expect)))
        async with self.store.session() as s:
            return (await s.execute(query)).rowcount == 1

    async def list(self, statuses: Sequence[str] | None = None, limit: int = 200,
                   since: datetime | None = None) -> list[Broadcast]:
        """Broadcasts with those statuses (since a time), soonest first."""
        query = sa.select(Broadcast)
        if statuses:
            query = query.where(Broadcast.status.in_(list(statuses)))
        if since is not None:
            query = query.where(sa.or_(Broadcast.send_at.is_(None), Broadcast.send_at >= since))
        query = query.order_by(Broadcast.send_at.is_(None), Broadcast.send_at, Broadcast.id).limit(limit)
        async with self.store.session() as s:
            return list((await s.execute(query)).scalars())

    async def scheduled(self) -> list[Broadcast]:
        """Every broadcast waiting for its time: what the scheduler's jobs are rebuilt from."""
        return await self.list(["scheduled"], limit=100_000)

    async def sending_ids(self) -> list[int]:
        """Ids of the broadcasts being sent."""
        async with self.store.session() as s:
            rows = await s.execute(sa.select(B.c.id).where(B.c.status == "sending").order_by(B.c.id))
            return list(rows.scalars())

    # --- audience ------------------------------------------------------------------------------

    async def audience(self, topics: Sequence[str], roles: Sequence[str] = (),
                       channels: Sequence[str] = ()) -> dict[str, int]:
        """How many people the audience reaches now, per channel."""
        query = (sa.select(U.c.channel, sa.func.count()).where(_audience_filter(topics, roles, channels))
                 .group_by(U.c.channel))
        async with self.store.session() as s:
            return {ch: int(n) for ch, n in (await s.execute(query)).all()}

    async def over_promo_limits(self, topics: Sequence[str], roles: Sequence[str], channels: Sequence[str],
                                limits: PromoLimits, at: datetime) -> tuple[int, int]:
        """For a promotion broadcast planned at `at`: how many of its Zalo OA recipients are already at
        the day's limit, and how many more at the month's (each person counted once)."""
        day, month = limits.windows(at)
        over_day = _promo_used(U.c.id, day) >= limits.per_day
        over_month = _promo_used(U.c.id, month) >= limits.per_month
        query = sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((over_day, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(~over_day, over_month), 1), else_=0)), 0),
        ).where(_audience_filter(topics, roles, channels), U.c.channel == PROMO_CHANNEL)
        async with self.store.session() as s:
            a, b = (await s.execute(query)).one()
            return int(a), int(b)

    async def start_sending(self, broadcast_id: int, promo: PromoLimits | None = None) -> int | None:
        """scheduled -> sending, freezing the audience into delivery rows, in one transaction.

        For a promotion broadcast (and `promo` given), Zalo OA recipients who already reached Zalo's
        per-follower limit for the day or the month are marked skipped at once, with the reason; the
        quota counts their deliveries of other promotion broadcasts that are sent or still on their way.
        Returns the number of recipients, or None when another process (or a cancel) got there first.
        """
        now = self.clock.now()
        async with self.store.session() as s:
            flipped = await s.execute(
                sa.update(B).where(B.c.id == broadcast_id, B.c.status == "scheduled")
                .values(status="sending", started_at=now, updated_at=now))
            if flipped.rowcount != 1:
                return None
            b = (await s.execute(sa.select(B.c.topics, B.c.roles, B.c.channels, B.c.promotion)
                                 .where(B.c.id == broadcast_id))).one()
            select = (
                sa.select(
                    sa.literal(broadcast_id),
                    U.c.id,
                    U.c.channel,
                    U.c.platform_id,
                    sa.literal("pending"),
                    sa.literal(0),
                    sa.literal(now, type_=Delivery.updated_at.type),
                )
                .where(_audience_filter(loads(b.topics), loads(b.roles), loads(b.channels)))
                .order_by(U.c.id)
            )
            await s.execute(
                sa.insert(D).from_select(
                    ["broadcast_id", "user_id", "channel", "platform_id", "status", "attempts", "updated_at"],
                    select,
                )
            )
            if b.promotion and promo is not None:
                day, month = promo.windows(now)
                for window, limit, reason in zip((day, month), (promo.per_day, promo.per_month),
                                                 promo_reasons(promo), strict=True):
                    over = await s.execute(
                        sa.update(D).where(D.c.broadcast_id == broadcast_id, D.c.channel == PROMO_CHANNEL,
                                           D.c.status == "pending",
                                           _promo_used(D.c.user_id, window, exclude=broadcast_id) >= limit)
                        .values(status="skipped", last_error=reason, updated_at=now))
                    if over.rowcount:
                        log.info("broadcast %d: %d Zalo OA recipient(s) skipped: %s", broadcast_id,
                                 over.rowcount, reason)
            total = (await s.execute(sa.select(sa.func.count()).select_from(D)
                                     .where(D.c.broadcast_id == broadcast_id))).scalar_one()
            await s.execute(sa.update(B).where(B.c.id == broadcast_id).values(total=total))
            return int(total)

    # --- the outbox ----------------------------------------------------------------------------

    async def claim(self, worker: str, limit: int, lease: timedelta,
                    broadcast_ids: Sequence[int] | None = None) -> list[Claimed]:
        """Lease up to `limit` pending rows that are due. Rows of people who unsubscribed (or became
        inactive) since the audience was frozen are marked skipped instead of being returned.

        PostgreSQL: FOR UPDATE SKIP LOCKED lets several workers claim side by side without waiting on
        each other; SQLite has one writer at a time, and the single UPDATE ... RETURNING is atomic.
        """
        now = self.clock.now()
        ids = list(broadcast_ids) if broadcast_ids is not None else await self.sending_ids()
        if not ids:
            return []
        pick = (sa.select(D.c.id)
                .where(D.c.broadcast_id.in_(ids), D.c.status == "pending",
                       sa.or_(D.c.not_before.is_(None), D.c.not_before <= now),
                       sa.or_(D.c.lease_until.is_(None), D.c.lease_until < now))
                .order_by(D.c.broadcast_id, D.c.id).limit(limit)
                .with_for_update(skip_locked=True))
        async with self.store.writing(urgent=False), self.store.session() as s:
            rows = (await s.execute(
                sa.update(D).where(D.c.id.in_(pick.scalar_subquery()))
                .values(lease_until=now + lease, leased_by=worker, updated_at=now)
                .returning(D.c.id, D.c.broadcast_id, D.c.user_id, D.c.channel, D.c.platform_id, D.c.attempts)
            )).all()
            if not rows:
                return []
            skipped: set[int] = set()
            by_broadcast: dict[int, list[int]] = {}
            for r in rows:
                by_broadcast.setdefault(r.broadcast_id, []).append(r.id)
            for bid, row_ids in by_broadcast.items():
                topics = loads((await s.execute(sa.select(B.c.topics).where(B.c.id == bid))).scalar_one())
                still = sa.exists(
                    sa.select(sa.literal(1)).select_from(S.join(U, U.c.id == S.c.user_id))
                    .where(S.c.user_id == D.c.user_id, S.c.active.is_(True), S.c.topic.in_(topics),
                           U.c.active.is_(True)))
                gone = await s.execute(
                    sa.update(D).where(D.c.id.in_(row_ids), ~still)
                    .values(status="skipped", last_error="unsubscribed or inactive before their turn",
                            lease_until=None, updated_at=now)
                    .returning(D.c.id))
                skipped.update(gone.scalars())
        claimed = [Claimed(r.id, r.broadcast_id, r.user_id, r.channel, r.platform_id, r.attempts)
                   for r in rows if r.id not in skipped]
        claimed.sort(key=lambda c: c.id)
        return claimed

    async def apply(self, worker: str, sending: Sequence[int], outcomes: Sequence[Outcome],
                    lease: timedelta) -> None:
        """One transaction: mark rows as in flight, and write the results of finished sends. On SQLite it
        waits its turn at the store's write gate behind the conversation's writes (as claim does) rather
        than in SQLite's busy handler, which sleeps 1, 2, 5, 10... ms between tries."""
        now = self.clock.now()
        async with self.store.writing(urgent=False), self.engine.begin() as conn:
            if sending:
                await conn.execute(_MARK_SENDING, {"m_ids": list(sending), "m_worker": worker,
                                                   "m_until": now + lease, "m_now": now})
            groups: dict[str, list[Outcome]] = {}
            for o in outcomes:
                groups.setdefault(
                    {"sent": "sent", "pending": "back", "release": "back"}.get(o.status, "final"), []
                ).append(o)
            if "sent" in groups:
                await conn.execute(_MARK_SENT, [{"b_id": o.id, "b_worker": worker, "b_at": o.at or now,
                                                 "b_mid": o.message_id, "b_n": o.attempts or 1, "b_now": now}
                                                for o in groups["sent"]])
            # Attempts as the outcome says (None: left as they were).
            given_attempts = sa.func.coalesce(sa.bindparam("b_n", type_=sa.Integer), D.c.attempts)
            if "back" in groups:  # a retry later, or a row handed back unsent
                # A row skipped meanwhile (its broadcast cancelled, its person's data deleted) or of a
                # broadcast no longer sending is not taken back: it stays skipped, with its attempts.
                status = sa.select(B.c.status).where(B.c.id == D.c.broadcast_id).scalar_subquery()
                sending = status == "sending"
                await conn.execute(
                    sa.update(D).where(_DELIVERED, sa.or_(D.c.status == "skipped", ~sending)).values(
                        status="skipped", lease_until=None, updated_at=now, attempts=given_attempts,
                        last_error=sa.case((D.c.status == "skipped", D.c.last_error),
                                           else_="broadcast cancelled")),
                    [{"b_id": o.id, "b_worker": worker, "b_n": o.attempts} for o in groups["back"]])
                await conn.execute(
                    sa.update(D).where(_MINE).values(
                        status="pending", not_before=sa.bindparam("b_nb"), last_error=sa.bindparam("b_err"),
                        attempts=given_attempts, lease_until=None, leased_by=None, updated_at=now),
                    [{"b_id": o.id, "b_worker": worker, "b_nb": o.not_before, "b_err": o.error,
                      "b_n": o.attempts} for o in groups["back"]])
            if "final" in groups:
                await conn.execute(
                    sa.update(D).where(_MINE).values(
                        status=sa.bindparam("b_status"), last_error=sa.bindparam("b_err"),
                        attempts=given_attempts, lease_until=None, updated_at=now),
                    [{"b_id": o.id, "b_worker": worker, "b_status": o.status, "b_err": o.error,
                      "b_n": o.attempts} for o in groups["final"]])

    async def renew(self, worker: str, lease: timedelta) -> int:
        """Extend the leases this worker holds (rows waiting in its queue during a long 429 pause)."""
        now = self.clock.now()
        async with self.store.session() as s:
            result = await s.execute(
                sa.update(D).where(D.c.leased_by == worker, D.c.status.in_(("pending", "sending")),
                                   D.c.lease_until.is_not(None))
                .values(lease_until=now + lease))
            return result.rowcount or 0

    async def release(self, worker: str) -> int:
        """Give back the pending rows this worker claimed but did not send (clean shutdown)."""
        async with self.store.session() as s:
            result = await s.execute(
                sa.update(D).where(D.c.leased_by == worker, D.c.status == "pending")
                .values(lease_until=None, leased_by=None))
            return result.rowcount or 0

    async def reap(self, everything: bool = False) -> int:
        """Rows left 'sending' by a worker that died become 'unknown' (maybe delivered; never resent).

        `everything`: every such row, used at start on SQLite, where this is the only process;
        otherwise only rows whose lease has run out (their worker stopped renewing it).
        """
        now = self.clock.now()
        query = sa.update(D).where(D.c.status == "sending")
        if not everything:
            query = query.where(D.c.lease_until < now)
        async with self.store.session() as s:
            result = await s.execute(query.values(
                status="unknown", last_error="in flight when the sending process stopped", lease_until=None,
                updated_at=now))
            if everything:
                # Pending rows claimed before the stop go back to the pool (elsewhere the expired
                # lease already lets other workers claim them).
                await s.execute(sa.update(D).where(D.c.status == "pending", D.c.lease_until.is_not(None))
                                .values(lease_until=None, leased_by=None))
            count = result.rowcount or 0
        if count:
            log.warning(
                "%d delivery(ies) were in flight when a worker stopped: marked unknown, not resent", count
            )
        return count

    async def open_rows(self, broadcast_id: int) -> int:
        """Deliveries of a broadcast still pending or sending."""
        async with self.store.session() as s:
            return int((await s.execute(
                sa.select(sa.func.count()).select_from(D)
                .where(D.c.broadcast_id == broadcast_id, D.c.status.in_(("pending", "sending")))
            )).scalar_one())

    async def finish_if_complete(self, broadcast_id: int) -> str | None:
        """sending -> done (or failed when nothing got through) once no row is pending or in flight.

        Returns the new status when this call made the change, else None.
        """
        if await self.open_rows(broadcast_id):
            return None
        counts = await self.counts(broadcast_id)
        status = "failed" if counts.get("sent", 0) == 0 and counts.get("failed", 0) > 0 else "done"
        now = self.clock.now()
        error = "no message could be delivered" if status == "failed" else None
        changed = await self.update(broadcast_id, ["sending"], status=status, finished_at=now, error=error)
        return status if changed else None

    async def claim_report(self, broadcast_id: int) -> bool:
        """True exactly once per broadcast (whichever process asks first): it sends the staff summary."""
        async with self.store.session() as s:
            result = await s.execute(sa.update(B).where(B.c.id == broadcast_id, B.c.reported.is_(False))
                                     .values(reported=True))
            return result.rowcount == 1

    # --- reading -------------------------------------------------------------------------------

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        """Deliveries of a broadcast by status."""
        async with self.store.session() as s:
            rows = await s.execute(
                sa.select(D.c.status, sa.func.count())
                .where(D.c.broadcast_id == broadcast_id)
                .group_by(D.c.status)
            )
            return {status: int(n) for status, n in rows.all()}

    async def channel_counts(self, broadcast_id: int) -> dict[str, dict[str, int]]:
        """Deliveries of a broadcast by channel, then status."""
        async with self.store.session() as s:
            rows = await s.execute(sa.select(D.c.channel, D.c.status, sa.func.count())
                                   .where(D.c.broadcast_id == broadcast_id).group_by(D.c.channel, D.c.status))
            result: dict[str, dict[str, int]] = {}
            for channel, status, n in rows.all():
                result.setdefault(channel, {})[status] = int(n)
            return result

    async def deliveries(self, broadcast_id: int, chunk: int = 2000) -> AsyncIterator[list[Delivery]]:
        """Every delivery row of a broadcast, in chunks (memory stays flat for 100,000 rows)."""
        last = 0
        while True:
            async with self.store.session() as s:
                rows = list((await s.execute(
                    sa.select(Delivery).where(Delivery.broadcast_id == broadcast_id, Delivery.id > last)
                    .order_by(Delivery.id).limit(chunk))).scalars())
            if not rows:
                return
            yield rows
            last = rows[-1].id

    async def year_rows(
        self, start: datetime, end: datetime
    ) -> tuple[list[Broadcast], list[tuple], int, tuple]:
        """For the yearly report: broadcasts started in [start, end), their delivery counts per
        (broadcast, channel, status), distinct people reached, and (questions asked, answered)."""
        async with self.store.session() as s:
            broadcasts = list((await s.execute(
                sa.select(Broadcast).where(Broadcast.started_at >= start, Broadcast.started_at < end)
                .order_by(Broadcast.started_at))).scalars())
            ids = [b.id for b in broadcasts]
            counts: list[tuple] = []
            reach = 0
            if ids:
                counts = [tuple(r) for r in (await s.execute(
                    sa.select(D.c.broadcast_id, D.c.channel, D.c.status, sa.func.count())
                    .where(D.c.broadcast_id.in_(ids)).group_by(D.c.broadcast_id, D.c.channel, D.c.status)
                )).all()]
                reach = int((await s.execute(
                    sa.select(sa.func.count(sa.distinct(D.c.user_id)))
                    .where(D.c.broadcast_id.in_(ids), D.c.status == "sent"))).scalar_one())
            q = QuestionLog.__table__
            asked, answered = (
                await s.execute(
                    sa.select(
                        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((q.c.answered, 1), else_=0)), 0)
                    ).where(q.c.asked_at >= start, q.c.asked_at < end)
                )
            ).one()
            return broadcasts, counts, reach, (int(asked), int(answered))
