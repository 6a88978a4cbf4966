"""Staff console accounts, the console's audit log, and the unanswered questions staff have handled."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.storage.models import ConsoleAudit, GapResolution, StaffAccount

if TYPE_CHECKING:
    from bot.storage.repo import Store


class AccountExists(Exception):
    """`add` of a name already taken."""


class StaffAccounts:
    """Rows of staff_accounts; the rules (hashing, lockout) live in bot.console.accounts."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def add(self, name: str, role: str, password_hash: str, must_change: bool) -> StaffAccount:
        """A new account; raises AccountExists when the name is taken."""
        try:
            async with self.db.session() as s:
                row = StaffAccount(name=name, role=role, password_hash=password_hash, must_change=must_change,
                                   created_at=self.db.clock.now())
                s.add(row)
                await s.flush()
                return row
        except IntegrityError:
            raise AccountExists(name) from None

    async def by_name(self, name: str) -> StaffAccount | None:
        """Return the staff account called `name`, or None."""
        async with self.db.session() as s:
            return (
                await s.execute(sa.select(StaffAccount).where(StaffAccount.name == name))
            ).scalar_one_or_none()

    async def get(self, account_id: int) -> StaffAccount | None:
        """Return the staff account with this id, or None."""
        async with self.db.session() as s:
            return await s.get(StaffAccount, account_id)

    async def all(self) -> list[StaffAccount]:
        """Return every staff account, sorted by name."""
        async with self.db.session() as s:
            return list((await s.execute(sa.select(StaffAccount).order_by(StaffAccount.name))).scalars())

    async def update(self, account_id: int, **values) -> None:
        """Set the given columns of one staff account."""
        async with self.db.session() as s:
            await s.execute(sa.update(StaffAccount).where(StaffAccount.id == account_id).values(**values))

    async def set_password(self, account_id: int, password_hash: str, must_change: bool) -> None:
        """A new password; sessions signed in with the old one stop working (version + 1)."""
        async with self.db.session() as s:
            await s.execute(sa.update(StaffAccount).where(StaffAccount.id == account_id).values(
                password_hash=password_hash, must_change=must_change, locked_until=None,
                version=StaffAccount.version + 1))


class ConsoleAuditLog:
    """Who did what in the console, and when; sign-in failures and locks too."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def record(self, actor: str, action: str, detail: str = "", address: str = "") -> None:
        """Add one entry to the console audit log."""
        async with self.db.session() as s:
            s.add(
                ConsoleAudit(
                    at=self.db.clock.now(),
                    actor=actor[:64],
                    action=action[:48],
                    detail=detail[:2000],
                    address=address[:64],
                )
            )

    async def count(self, action: str, since: datetime, *, actor: str | None = None,
                    address: str | None = None) -> int:
        """How many `action` rows since `since` (for one actor or one address)."""
        query = sa.select(sa.func.count()).select_from(ConsoleAudit).where(
            ConsoleAudit.action == action, ConsoleAudit.at >= since)
        if actor is not None:
            query = query.where(ConsoleAudit.actor == actor)
        if address is not None:
            query = query.where(ConsoleAudit.address == address)
        async with self.db.session() as s:
            return int((await s.execute(query)).scalar_one())

    async def latest(self, action: str, *, address: str) -> datetime | None:
        """Return when `action` was last recorded from `address`, or None."""
        async with self.db.session() as s:
            return (await s.execute(sa.select(sa.func.max(ConsoleAudit.at)).where(
                ConsoleAudit.action == action, ConsoleAudit.address == address))).scalar_one()

    async def recent(self, limit: int = 200, actor: str | None = None) -> list[ConsoleAudit]:
        """Return the newest audit entries, optionally of one actor only."""
        query = sa.select(ConsoleAudit).order_by(ConsoleAudit.id.desc()).limit(limit)
        if actor:
            query = query.where(ConsoleAudit.actor == actor)
        async with self.db.session() as s:
            return list((await s.execute(query)).scalars())


class GapResolutions:
    """Questions of the unanswered queue that staff handled; they leave the queue."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def resolve(self, texts: Sequence[str], action: str, by: str, entry_id: str | None = None) -> None:
        """Record how staff resolved these unanswered questions (ignored, new or attached to an entry)."""
        now = self.db.clock.now()
        async with self.db.session() as s:
            for text in dict.fromkeys(t.strip() for t in texts if t.strip()):
                s.add(GapResolution(text=text, action=action, entry_id=entry_id, by=by[:64], at=now))

    async def resolved(self) -> dict[str, datetime]:
        """Question text -> when it was last handled."""
        async with self.db.session() as s:
            rows = await s.execute(sa.select(GapResolution.text, sa.func.max(GapResolution.at))
                                   .group_by(GapResolution.text))
            return {text: at for text, at in rows.all()}
