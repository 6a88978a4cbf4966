"""Small service state (key-value rows, per-chat adapter state) and the platforms' update dedup."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.storage.models import KeyValue, ProcessedUpdate

if TYPE_CHECKING:
    from bot.storage.repo import Store


def dedup_digest(*parts: str) -> str:
    """A processed_updates key made of parts that name a person (a chat id, a sender id): stored as a
    digest, so the dedup table holds no one's id and still drops a redelivery after /xoadulieu."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def chat_key(channel: str, chat_id: str, name: str) -> str:
    """The kv key of per-chat state a channel adapter keeps (e.g. the menu last shown): deleted with the
    person's data (`PersonalData.delete`), so every adapter names such state this way. Chat ids longer
    than 32 characters are hashed so that the key fits kv.key (64 characters, names up to 16)."""
    if len(chat_id) > 32:
        chat_id = "#" + hashlib.sha256(chat_id.encode("utf-8")).hexdigest()[:31]
    return f"chat:{channel}:{chat_id}:{name}"


class KeyValues:
    """Secrets generated once, per-chat adapter state (menus shown, button labels)."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None."""
        async with self.db.session() as s:
            row = await s.get(KeyValue, key)
            return row.value if row else None

    async def setdefault(self, key: str, value: str) -> str:
        """Store `value` unless the key exists; return what is stored (safe against races)."""
        try:
            async with self.db.session() as s:
                existing = await s.get(KeyValue, key)
                if existing is not None:
                    return existing.value
                s.add(KeyValue(key=key, value=value, updated_at=self.db.clock.now()))
                return value
        except IntegrityError:
            stored = await self.get(key)
            assert stored is not None
            return stored

    async def set(self, key: str, value: str) -> None:
        """Store `value` under `key`, replacing what was there."""
        async with self.db.session() as s:
            row = await s.get(KeyValue, key)
            if row is None:
                s.add(KeyValue(key=key, value=value, updated_at=self.db.clock.now()))
            else:
                row.value, row.updated_at = value, self.db.clock.now()

    async def delete(self, key: str) -> None:
        """Forget the key (nothing happens when it is not there)."""
        async with self.db.session() as s:
            await s.execute(sa.delete(KeyValue).where(KeyValue.key == key))


class Dedup:
    """Update / message ids already handled, so a platform's redelivery is not answered twice."""

    def __init__(self, db: Store):
        """`db`: the shared sessions, clock and write gate."""
        self.db = db

    async def first_time(self, source: str, key: str) -> bool:
        """True the first time (source, key) is seen; False for a redelivered update."""
        try:
            async with self.db.session() as s:
                s.add(ProcessedUpdate(source=source, key=key[:128], seen_at=self.db.clock.now()))
            return True
        except IntegrityError:
            return False

    async def first_times(self, source: str, keys: list[str]) -> set[str]:
        """The keys of `keys` never seen before (now recorded), in one statement: a batch of polled updates
        costs one transaction. Safe against concurrent callers (ON CONFLICT DO NOTHING)."""
        if not keys:
            return set()
        now = self.db.clock.now()
        rows = [{"source": source, "key": key[:128], "seen_at": now} for key in dict.fromkeys(keys)]
        stmt = (self.db.insert(ProcessedUpdate).values(rows)
                .on_conflict_do_nothing(index_elements=["source", "key"])
                .returning(ProcessedUpdate.key))
        async with self.db.writing(), self.db.engine.begin() as conn:
            fresh = set((await conn.execute(stmt)).scalars())
        return {key for key in keys if key[:128] in fresh}

    async def prune(self, older_than: timedelta) -> int:
        """Forget ids seen longer ago than `older_than`; returns how many were dropped."""
        async with self.db.session() as s:
            result = await s.execute(sa.delete(ProcessedUpdate)
                                     .where(ProcessedUpdate.seen_at < self.db.clock.now() - older_than))
            return result.rowcount or 0

