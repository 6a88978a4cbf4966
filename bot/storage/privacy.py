"""What is stored about a person, and deleting it (/xoadulieu)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.storage.kv import chat_key
from bot.storage.mailbox import clear_statement as clear_mailbox
from bot.storage.models import (
    ConversationState,
    Delivery,
    HandoffCase,
    KeyValue,
    Lead,
    ProcessedUpdate,
    QuestionLog,
    QuizRun,
    StaffAudit,
    Subscription,
    SubscriptionEvent,
    User,
)

if TYPE_CHECKING:
    from bot.storage.repo import Store

ANONYMOUS = "deleted"  # what replaces a person's platform id in rows kept for their action (staff_audit)
RECENTLY_DELETED = 10_000  # user ids remembered for the dispatcher (see PersonalData.recently_deleted)


class PersonalData:
    """A person's data across every table: shown on request, deleted on request."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and the question log's flush."""
        self.db = db
        # Users who deleted their data in this process lately: a broadcast row already claimed for
        # them (in a dispatcher's queue) must not go out (scheduler.dispatcher checks this).
        self.recently_deleted: OrderedDict[int, None] = OrderedDict()

    async def user_data(self, user_id: int) -> dict[str, Any]:
        """What is stored about a user, for /xoadulieu."""
        await self.db.flush()  # questions still queued for the group commit
        async with self.db.session() as s:
            user = await s.get(User, user_id)
            topics = (await s.execute(sa.select(Subscription.topic).where(
                Subscription.user_id == user_id, Subscription.active.is_(True)))).scalars().all()
            questions = (await s.execute(sa.select(sa.func.count()).select_from(QuestionLog)
                                         .where(QuestionLog.user_id == user_id))).scalar_one()
            events = (await s.execute(sa.select(sa.func.count()).select_from(SubscriptionEvent)
                                      .where(SubscriptionEvent.user_id == user_id))).scalar_one()
            cases = (await s.execute(sa.select(sa.func.count()).select_from(HandoffCase)
                                     .where(HandoffCase.user_id == user_id))).scalar_one()
            quiz = (await s.execute(sa.select(sa.func.count()).select_from(QuizRun)
                                    .where(QuizRun.user_id == user_id,
                                           QuizRun.scores.is_not(None)))).scalar_one()
            leads = (await s.execute(sa.select(sa.func.count()).select_from(Lead)
                                     .where(Lead.user_id == user_id))).scalar_one()
            return {
                "channel": user.channel if user else None,
                "role": user.role if user else None,
                "created_at": user.created_at if user else None,
                "topics": sorted(topics),
                "questions": questions,
                "subscription_events": events,
                "handoff_cases": cases,
                "quiz_results": quiz,
                "leads": leads,
            }

    async def delete(self, user_id: int) -> None:
        """Delete the user and everything linked to them; questions stay, unlinked, for statistics, and quiz
        runs stay as anonymous counts (no link, no scores). Deleted registrations are counted in the audit
        log."""
        self.recently_deleted[user_id] = None
        while len(self.recently_deleted) > RECENTLY_DELETED:
            self.recently_deleted.popitem(last=False)
        await self.db.flush()  # questions still queued for the group commit
        async with self.db.session() as s:
            await s.execute(sa.update(QuestionLog).where(QuestionLog.user_id == user_id).values(user_id=None))
            # Pending broadcast deliveries to this person are dropped; finished ones keep their status
            # for the counts but lose the platform id.
            await s.execute(
                sa.update(Delivery)
                .where(Delivery.user_id == user_id, Delivery.status == "pending")
                .values(status="skipped", last_error="user deleted their data")
            )
            await s.execute(sa.update(Delivery).where(Delivery.user_id == user_id)
                            .values(user_id=None, platform_id="deleted"))
            for model in (SubscriptionEvent, Subscription, ConversationState, HandoffCase):
                await s.execute(sa.delete(model).where(model.user_id == user_id))
            await s.execute(sa.update(QuizRun).where(QuizRun.user_id == user_id)
                            .values(user_id=None, scores=None))
            leads = (await s.execute(sa.delete(Lead).where(Lead.user_id == user_id))).rowcount or 0
            if leads:  # the audit row names no one: the person's ids are what is being deleted
                s.add(StaffAudit(channel="privacy", platform_id=f"user#{user_id}",
                                 command=f"/xoadulieu: {leads} registration(s) deleted", allowed=True,
                                 at=self.db.clock.now()))
            user = await s.get(User, user_id)
            if user is not None:
                # What channel adapters keep about the chat (menus shown, button labels).
                prefix = chat_key(user.channel, user.platform_id, "")
                await s.execute(sa.delete(KeyValue).where(KeyValue.key.startswith(prefix, autoescape=True)))
                await s.execute(clear_mailbox(user.channel, user.platform_id))  # the web chat's messages
                # Audit rows keep the action (who may use staff commands is the staff's business), not
                # the person.
                await s.execute(sa.update(StaffAudit).where(StaffAudit.channel == user.channel,
                                                            StaffAudit.platform_id == user.platform_id)
                                .values(platform_id=ANONYMOUS))
                # Dedup keys written before they were digests (bot.storage.kv.dedup_digest) may hold the
                # chat or sender id.
                await s.execute(sa.delete(ProcessedUpdate).where(
                    ProcessedUpdate.source == user.channel,
                    ProcessedUpdate.key.contains(user.platform_id, autoescape=True)))
            await s.execute(sa.delete(User).where(User.id == user_id))

