"""Counselling (handoff) cases and the staff-chat messages that belong to them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.storage.models import HandoffCase, HandoffMessage
from bot.storage.questions import MAX_LOGGED_TEXT

if TYPE_CHECKING:
    from bot.storage.repo import Store


class Cases:
    """A person's open question for a counsellor, and the staff messages replies may answer."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def open(self, user_id: int, question: str) -> HandoffCase:
        """The person's open case, or a new one with `question`."""
        async with self.db.session() as s:
            case = (await s.execute(
                sa.select(HandoffCase).where(HandoffCase.user_id == user_id, HandoffCase.status == "open")
            )).scalar_one_or_none()
            if case is None:
                case = HandoffCase(
                    user_id=user_id, question=question[:MAX_LOGGED_TEXT], opened_at=self.db.clock.now()
                )
                s.add(case)
                await s.flush()
            return case

    async def set_message(self, case_id: int, chat_id: str, message_id: str) -> None:
        """Remember the staff chat message that announced a case (staff reply to it)."""
        async with self.db.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id)
                            .values(staff_chat_id=chat_id, staff_message_id=message_id))

    async def open_for(self, user_id: int) -> HandoffCase | None:
        """The person's open case, if any."""
        async with self.db.session() as s:
            return (await s.execute(
                sa.select(HandoffCase).where(HandoffCase.user_id == user_id, HandoffCase.status == "open")
            )).scalar_one_or_none()

    async def by_staff_message(self, chat_id: str, message_id: str) -> HandoffCase | None:
        """The case a staff chat message announced, if any."""
        async with self.db.session() as s:
            return (await s.execute(
                sa.select(HandoffCase).where(HandoffCase.staff_chat_id == chat_id,
                                             HandoffCase.staff_message_id == message_id)
            )).scalar_one_or_none()

    async def get(self, case_id: int) -> HandoffCase | None:
        """A case by id."""
        async with self.db.session() as s:
            return await s.get(HandoffCase, case_id)

    async def link_message(self, case_id: int, chat_id: str, message_id: str) -> None:
        """Remember a staff-chat message about a case (card or follow-up) so replies to it find the case."""
        try:
            async with self.db.session() as s:
                s.add(
                    HandoffMessage(
                        case_id=case_id, chat_id=chat_id, message_id=message_id, at=self.db.clock.now()
                    )
                )
        except IntegrityError:
            pass  # already linked

    async def for_message(self, chat_id: str, message_id: str) -> HandoffCase | None:
        """The case a staff-chat message belongs to: the card itself or any linked follow-up."""
        case = await self.by_staff_message(chat_id, message_id)
        if case is not None:
            return case
        async with self.db.session() as s:
            return (await s.execute(
                sa.select(HandoffCase).join(HandoffMessage, HandoffMessage.case_id == HandoffCase.id)
                .where(HandoffMessage.chat_id == chat_id, HandoffMessage.message_id == message_id)
            )).scalar_one_or_none()

    async def close(self, case_id: int) -> None:
        """Mark a case closed now."""
        async with self.db.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id)
                            .values(status="closed", closed_at=self.db.clock.now()))


    async def answered(self, case_id: int, by: str) -> None:
        """A reply reached the person (from the staff chat or the console)."""
        async with self.db.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id)
                            .values(answered_at=self.db.clock.now(), answered_by=by[:64]))

    async def claim(self, case_id: int, by: str | None) -> None:
        """A console account takes the case (None: gives it back)."""
        async with self.db.session() as s:
            await s.execute(sa.update(HandoffCase).where(HandoffCase.id == case_id).values(claimed_by=by))

    async def listing(self, status: str | None = "open", limit: int = 200) -> list[HandoffCase]:
        """Cases newest first (open ones by default)."""
        query = sa.select(HandoffCase).order_by(HandoffCase.id.desc()).limit(limit)
        if status:
            query = query.where(HandoffCase.status == status)
        async with self.db.session() as s:
            return list((await s.execute(query)).scalars())

    async def count_open(self) -> int:
        """Return the number of open counselling cases."""
        async with self.db.session() as s:
            return int((await s.execute(sa.select(sa.func.count()).select_from(HandoffCase)
                                        .where(HandoffCase.status == "open"))).scalar_one())
