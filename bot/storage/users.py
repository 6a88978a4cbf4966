"""Users and their conversation state: the hot path of every message (`enter`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.storage.models import ConversationState, User
from bot.types import UserRef

if TYPE_CHECKING:
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

# `enter` refreshes last_seen_at at most this often: one write per message would make every answer
# wait for SQLite's single writer, and "last seen" needs no finer grain.
LAST_SEEN_GRAIN = timedelta(seconds=60)
ENTER_BATCH = 200  # users read by one shared query at most
U, S = User.__table__, ConversationState.__table__
# The users asked for, with their flow state: built once, the (channel, platform_id) pairs bound at
# execution as an expanding parameter (a statement built per call costs more than the SQL it runs).
_ENTER = (sa.select(U, S.c.flow, S.c.step, S.c.data)
          .select_from(U.outerjoin(S, S.c.user_id == U.c.id))
          .where(sa.tuple_(U.c.channel, U.c.platform_id).in_(sa.bindparam("keys", expanding=True))))


@dataclass
class State:
    """A user's place in a multi-step flow; `flow` None means no flow is running."""

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Users:
    """People on every channel (one row per channel and platform id) and where they are in a flow."""

    def __init__(self, db: Store):
        """`db`: the shared sessions, clock and write gate."""
        self.db = db
        self._queue: list[tuple[UserRef, str | None, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def close(self) -> None:
        """Stop the shared-read task of `enter`."""
        if self._flusher is not None and not self._flusher.done():
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher

    async def touch(self, ref: UserRef, display_name: str | None = None) -> User:
        """Get or create the user, update last-seen; a user who writes again is active again."""
        now = self.db.clock.now()
        for _ in range(2):
            try:
                async with self.db.session() as s:
                    user = (await s.execute(
                        sa.select(User).where(User.channel == ref.channel, User.platform_id == ref.user_id)
                    )).scalar_one_or_none()
                    if user is None:
                        user = User(
                            channel=ref.channel,
                            platform_id=ref.user_id,
                            created_at=now,
                            last_seen_at=now,
                            display_name=(display_name or None) and display_name[:128],
                        )
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
        self._queue.append((ref, display_name, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:ENTER_BATCH], self._queue[ENTER_BATCH:]
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
        now = self.db.clock.now()
        keys = list(dict.fromkeys((ref.channel, ref.user_id) for ref, _ in requests))
        async with self.db.engine.connect() as conn:
            rows = {(r.channel, r.platform_id): r for r in (await conn.execute(_ENTER, {"keys": keys})).all()}
        missing = [key for key in keys if key not in rows]
        if missing:
            # First contact of several people at once (a campaign brings hundreds): one INSERT for all,
            # safe against another process creating the same person (ON CONFLICT DO NOTHING).
            names = {(ref.channel, ref.user_id): (name or None) and name[:128] for ref, name in requests}
            new_rows = [
                {
                    "channel": ch,
                    "platform_id": pid,
                    "display_name": names.get((ch, pid)),
                    "consent": "none",
                    "active": True,
                    "created_at": now,
                    "last_seen_at": now,
                }
                for ch, pid in missing
            ]
            insert = self.db.insert
            async with self.db.writing(), self.db.engine.begin() as conn:
                await conn.execute(insert(U).values(new_rows).on_conflict_do_nothing(
                    index_elements=["channel", "platform_id"]))
                again = (await conn.execute(_ENTER, {"keys": missing})).all()
                rows.update({(r.channel, r.platform_id): r for r in again})
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
                found[key] = (await self.touch(ref, display_name), State())
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
            async with self.db.writing(), self.db.engine.begin() as conn:
                for uid, changes in pending.items():
                    await conn.execute(sa.update(U).where(U.c.id == uid).values(**changes))
        return results

    async def get(self, ref: UserRef) -> User | None:
        """The user behind a channel's id, if known."""
        async with self.db.session() as s:
            return (await s.execute(
                sa.select(User).where(User.channel == ref.channel, User.platform_id == ref.user_id)
            )).scalar_one_or_none()

    async def by_id(self, user_id: int) -> User | None:
        """A user by database id."""
        async with self.db.session() as s:
            return await s.get(User, user_id)

    async def update(self, user_id: int, **values: Any) -> None:
        """Set columns of one user (a transaction shared with concurrent small writes, Store.grouped)."""
        statement = sa.update(User.__table__).where(User.__table__.c.id == user_id).values(**values)

        async def op(conn) -> None:
            await conn.execute(statement)

        await self.db.grouped(op)

    async def mark_inactive(self, ref: UserRef, reason: str) -> None:
        """The platform says we can no longer reach this user (blocked, deactivated, unfollowed)."""
        async with self.db.session() as s:
            await s.execute(
                sa.update(User)
                .where(User.channel == ref.channel, User.platform_id == ref.user_id)
                .values(active=False, inactive_reason=reason[:200])
            )
        log.info("user %s marked inactive: %s", ref, reason)

    async def get_state(self, user_id: int) -> State:
        """The person's conversation state (an empty State when there is none)."""
        async with self.db.session() as s:
            row = await s.get(ConversationState, user_id)
            if row is None:
                return State()
            return State(row.flow, row.step, json.loads(row.data or "{}"))

    async def set_state(self, user_id: int, flow: str | None, step: str | None = None,
                        data: dict[str, Any] | None = None) -> None:
        """Store the flow, step and data the person's conversation is at."""
        async with self.db.session() as s:
            row = await s.get(ConversationState, user_id)
            payload = json.dumps(data or {}, ensure_ascii=False)
            if row is None:
                s.add(ConversationState(user_id=user_id, flow=flow, step=step, data=payload,
                                        updated_at=self.db.clock.now()))
            else:
                row.flow, row.step, row.data, row.updated_at = flow, step, payload, self.db.clock.now()

    async def clear_state(self, user_id: int) -> None:
        """End whatever flow the person was in."""
        await self.set_state(user_id, None, None, {})

