"""Career guidance: interest quiz runs (started, finished, scores) and registrations for counselling
(leads)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.storage.models import Lead, QuizRun, StaffAudit

if TYPE_CHECKING:
    from bot.storage.repo import Store
    from bot.types import UserRef

log = logging.getLogger(__name__)


class QuizResults:
    """Quiz runs: one row per start; finishing stores the scores and the strongest types."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def start(self, user_id: int, channel: str) -> int:
        """Record that a run started; returns its id (kept in the flow's data until it finishes)."""
        async with self.db.session() as s:
            run = QuizRun(user_id=user_id, channel=channel, started_at=self.db.clock.now())
            s.add(run)
            await s.flush()
            assert run.id is not None
            return run.id

    async def finish(self, run_id: int | None, user_id: int, channel: str,
                     scores: dict[str, tuple[int, int]], top: str) -> int:
        """Store a finished run's scores ({"R": (points, maximum)}) and top types ("RC"); returns its id.
        A run whose start row is gone (or unknown) gets a new row."""
        now = self.db.clock.now()
        raw = json.dumps({code: list(pair) for code, pair in scores.items()})
        async with self.db.session() as s:
            run = await s.get(QuizRun, run_id) if run_id is not None else None
            if run is None or run.user_id != user_id or run.finished_at is not None:
                run = QuizRun(user_id=user_id, channel=channel, started_at=now)
                s.add(run)
            run.finished_at, run.scores, run.top = now, raw, top[:8]
            await s.flush()
            assert run.id is not None
            return run.id

    async def latest(self, user_id: int) -> QuizRun | None:
        """The user's last finished run (what "xem lại kết quả" shows)."""
        async with self.db.session() as s:
            return (await s.execute(
                sa.select(QuizRun).where(QuizRun.user_id == user_id, QuizRun.finished_at.is_not(None),
                                         QuizRun.scores.is_not(None))
                .order_by(QuizRun.finished_at.desc(), QuizRun.id.desc()).limit(1)
            )).scalar_one_or_none()

    async def count_for(self, user_id: int) -> int:
        """How many finished results are kept for the user."""
        async with self.db.session() as s:
            return (await s.execute(sa.select(sa.func.count()).select_from(QuizRun).where(
                QuizRun.user_id == user_id, QuizRun.scores.is_not(None)))).scalar_one()

    async def counts(self, since: datetime | None = None, until: datetime | None = None) -> QuizCounts:
        """Runs started and finished in [since, until), and how often each type was among the strongest."""
        async with self.db.session() as s:
            started = sa.select(sa.func.count()).select_from(QuizRun)
            finished = sa.select(QuizRun.top).where(QuizRun.finished_at.is_not(None))
            if since is not None:
                started = started.where(QuizRun.started_at >= since)
                finished = finished.where(QuizRun.finished_at >= since)
            if until is not None:
                started = started.where(QuizRun.started_at < until)
                finished = finished.where(QuizRun.finished_at < until)
            n_started = (await s.execute(started)).scalar_one()
            tops = (await s.execute(finished)).scalars().all()
        types: Counter[str] = Counter(code for top in tops for code in (top or ""))
        return QuizCounts(int(n_started), len(tops), dict(types))


@dataclass(frozen=True)
class QuizCounts:
    """Quiz use over a period: runs started, finished, and type -> times among the strongest types."""

    started: int
    finished: int
    types: dict[str, int]

    def top_types(self, n: int = 3) -> list[tuple[str, int]]:
        """The most frequent types, most frequent first (ties in Holland's R I A S E C order)."""
        order = "RIASEC"
        return sorted(self.types.items(), key=lambda kv: (-kv[1], order.find(kv[0]) % 7, kv[0]))[:n]


LEAD_FIELDS = ("full_name", "phone", "who", "birth_year", "grade", "trade_id", "trade_text", "school_id",
               "call_time")


class Leads:
    """Registrations for counselling: written once, on confirmation; anonymised after the retention period."""

    def __init__(self, db: Store):
        """`db`: the shared sessions and clock."""
        self.db = db

    async def add(self, user_id: int, channel: str, **values: Any) -> Lead:
        """Write one registration (one transaction); `values` are Lead's fields (LEAD_FIELDS)."""
        unknown = set(values) - set(LEAD_FIELDS)
        if unknown:
            raise TypeError(f"unknown lead fields {sorted(unknown)}")
        async with self.db.session() as s:
            lead = Lead(user_id=user_id, channel=channel, created_at=self.db.clock.now(), **values)
            s.add(lead)
            await s.flush()
            return lead

    async def list(self, since: datetime | None = None, school: str | None = None,
                   limit: int | None = None, newest_first: bool = False) -> list[Lead]:
        """Registrations created at or after `since`, for `school` (its id) when given, oldest first."""
        query = sa.select(Lead)
        if since is not None:
            query = query.where(Lead.created_at >= since)
        if school is not None:
            query = query.where(Lead.school_id == school)
        order = (Lead.created_at.desc(), Lead.id.desc()) if newest_first else (Lead.created_at, Lead.id)
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        async with self.db.session() as s:
            return list((await s.execute(query)).scalars())

    async def count_for(self, user_id: int) -> int:
        """How many registrations are kept for the user."""
        async with self.db.session() as s:
            return (await s.execute(sa.select(sa.func.count()).select_from(Lead)
                                    .where(Lead.user_id == user_id))).scalar_one()

    async def count(self, since: datetime | None = None, until: datetime | None = None) -> int:
        """Registrations created in [since, until) (no bound when None)."""
        query = sa.select(sa.func.count()).select_from(Lead)
        if since is not None:
            query = query.where(Lead.created_at >= since)
        if until is not None:
            query = query.where(Lead.created_at < until)
        async with self.db.session() as s:
            return (await s.execute(query)).scalar_one()

    async def anonymise(self, before: datetime, actor: UserRef) -> int:
        """Clear name and phone and cut the user link of registrations created before `before`; the count is
        written to the audit log (by `actor`) in the same transaction. Returns how many were anonymised."""
        now = self.db.clock.now()
        async with self.db.session() as s:
            result = await s.execute(
                sa.update(Lead).where(Lead.created_at < before, Lead.anonymised_at.is_(None))
                .values(full_name=None, phone=None, user_id=None, anonymised_at=now))
            count = int(result.rowcount or 0)
            if count:
                s.add(StaffAudit(channel=actor.channel[:16], platform_id=actor.user_id[:64],
                                 command=f"leads anonymised: {count}"[:64], allowed=True, at=now))
        if count:
            log.info("anonymised %d registration(s) created before %s", count, before.isoformat())
        return count


def months_before(when: datetime, months: int) -> datetime:
    """The same moment `months` calendar months earlier (the day clamped to the month's length)."""
    import calendar

    total = when.year * 12 + (when.month - 1) - months
    year, month = divmod(total, 12)
    day = min(when.day, calendar.monthrange(year, month + 1)[1])
    return when.replace(year=year, month=month + 1, day=day)
