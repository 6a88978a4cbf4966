"""Leader election, so two processes on one PostgreSQL database never both fire a broadcast.

PostgreSQL: a session-level advisory lock (pg_try_advisory_lock) held on a dedicated connection; it
is released by the server the moment that connection dies, so a crashed leader cannot block the
others. SQLite: one process per database file, which is always the leader.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Arbitrary constant naming this lock ("chng" + 1); the migration lock uses 0x63686E67.
LEADER_LOCK_ID = 0x63686E68


class LeaderLock:
    """Whether this process is the scheduler's leader (PostgreSQL advisory lock; SQLite always)."""

    def __init__(self, engine: AsyncEngine, key: int = LEADER_LOCK_ID):
        self.engine = engine
        self.key = key
        self.is_postgres = engine.dialect.name == "postgresql"
        self._conn: AsyncConnection | None = None
        self.held = not self.is_postgres

    async def acquire(self) -> bool:
        """Try to become (or stay) the leader; never waits. True when this process leads."""
        if not self.is_postgres:
            return True
        if self.held:
            return await self.check()
        try:
            if self._conn is None:
                conn = await self.engine.connect()
                # Autocommit: the lock belongs to the session, and no transaction stays open for hours.
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = (
                await self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
        except Exception:
            log.exception("leader lock: database error")
            await self._drop()
            return False
        if got:
            self.held = True
            log.info("this process is the scheduler leader")
        return bool(got)

    async def check(self) -> bool:
        """Still the leader? A lost connection means the lock is gone too."""
        if not self.is_postgres:
            return True
        if not self.held or self._conn is None:
            return False
        try:
            await self._conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            log.warning("leader lock connection lost; stepping down")
            await self._drop()
            return False

    async def release(self) -> None:
        """Give up leadership and close the lock's connection."""
        if self.is_postgres and self._conn is not None and self.held:
            try:
                await self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except Exception:
                pass
        await self._drop()

    async def _drop(self) -> None:
        if self.is_postgres:
            self.held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                pass
