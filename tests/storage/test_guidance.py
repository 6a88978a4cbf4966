"""The guidance repositories on every backend: quiz runs (start, finish, latest, counts by period) and
registrations (one-transaction writes, filters, anonymisation after the retention, months arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.storage.guidance import months_before
from bot.types import UserRef
from tests.conftest import BACKENDS

ON_EVERY_BACKEND = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)

ACTOR = UserRef("test", "retention")


@ON_EVERY_BACKEND
async def test_quiz_runs(store, clock):
    user = await store.users.touch(UserRef("telegram", "1"))
    other = await store.users.touch(UserRef("zalo_bot", "2"))
    first = await store.quiz.start(user.id, "telegram")
    assert await store.quiz.latest(user.id) is None  # started is not a result
    clock.advance(minutes=5)
    assert await store.quiz.finish(first, user.id, "telegram", {"R": (6, 6), "C": (4, 6)}, "RC") == first
    clock.advance(days=1)
    second = await store.quiz.start(user.id, "telegram")
    # A run id that is not theirs (or unknown) gets a new row instead of overwriting someone's result.
    stray = await store.quiz.finish(second, other.id, "zalo_bot", {"S": (6, 6)}, "SE")
    assert stray != second
    latest = await store.quiz.latest(user.id)
    assert latest.id == first and latest.top == "RC" and '"R": [6, 6]' in latest.scores
    counts = await store.quiz.counts()
    assert (counts.started, counts.finished, counts.types) == (3, 2, {"R": 1, "C": 1, "S": 1, "E": 1})
    today = await store.quiz.counts(clock.now() - timedelta(hours=1))
    assert (today.started, today.finished) == (2, 1)
    assert await store.quiz.count_for(user.id) == 1


@ON_EVERY_BACKEND
async def test_leads_filters_and_retention(store, clock):
    user = await store.users.touch(UserRef("telegram", "1"))
    with pytest.raises(TypeError):
        await store.leads.add(user.id, "telegram", who="student", call_time="any", email="x@example.org")
    assert await store.leads.list() == []  # the bad write left nothing behind
    old = await store.leads.add(user.id, "telegram", full_name="An", phone="0912345678", who="student",
                                call_time="any", school_id="truong.a")
    clock.advance(days=200)
    await store.leads.add(user.id, "telegram", full_name="Bình", phone="0987654321", who="parent",
                          call_time="morning")
    assert [x.phone for x in await store.leads.list(school="truong.a")] == ["0912345678"]
    assert [x.phone for x in await store.leads.list(since=clock.now() - timedelta(days=1))] == ["0987654321"]
    assert [x.phone for x in await store.leads.list(newest_first=True, limit=1)] == ["0987654321"]
    assert await store.leads.count_for(user.id) == 2 and await store.leads.count(clock.now()) == 1
    assert await store.leads.anonymise(clock.now() - timedelta(days=100), ACTOR) == 1
    assert await store.leads.anonymise(clock.now() - timedelta(days=100), ACTOR) == 0  # once
    first, second = await store.leads.list()
    assert first.id == old.id and (first.full_name, first.phone, first.user_id) == (None, None, None)
    assert second.phone == "0987654321"


def test_months_before():
    assert months_before(datetime(2026, 9, 1, 3, tzinfo=UTC), 12) == datetime(2025, 9, 1, 3, tzinfo=UTC)
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(2024, 12, 15, tzinfo=UTC)
