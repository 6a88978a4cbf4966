"""Staff audit rows and the numbers staff see (/thongke)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.storage.models import QuestionLog, StaffAudit, Subscription, User
from bot.types import UserRef

if TYPE_CHECKING:
    from bot.storage.repo import Store


class Audit:
    """Who used (or was refused) a staff command, and when."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def record(self, ref: UserRef, command: str, allowed: bool) -> None:
        """Log a staff command and whether it was allowed."""
        async with self.db.session() as s:
            s.add(
                StaffAudit(
                    channel=ref.channel,
                    platform_id=ref.user_id,
                    command=command[:64],
                    allowed=allowed,
                    at=self.db.clock.now(),
                )
            )


class Stats:
    """Counts for staff."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and the question log's flush."""
        self.db = db

    async def since(self, since: datetime) -> dict[str, Any]:
        """Users by role and channel, subscribers per topic, questions since `since`, share answered."""
        await self.db.flush()  # questions still queued for the group commit
        async with self.db.session() as s:
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

    async def new_users(self, since: datetime) -> dict[tuple[str, str], int]:
        """People who first wrote since `since`, per (role, channel)."""
        async with self.db.session() as s:
            rows = await s.execute(
                sa.select(sa.func.coalesce(User.role, "chưa chọn"), User.channel, sa.func.count())
                .where(User.created_at >= since)
                .group_by(User.role, User.channel)
            )
            return {(role, channel): int(n) for role, channel, n in rows.all()}
