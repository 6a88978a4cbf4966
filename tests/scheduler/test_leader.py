"""The leader lock: on PostgreSQL one process at a time makes jobs and fires broadcasts."""

from __future__ import annotations

import pytest

from bot.types import UserRef
from scheduler.broadcasts import Broadcasts
from scheduler.service import SchedulerService
from tests.conftest import BACKENDS
from tests.scheduler.conftest import add_subscribers

pytestmark = pytest.mark.parametrize("db_url", BACKENDS[1:], indirect=True)


def make_service(settings, store, clock, outbound, broadcasts):
    return SchedulerService(settings, store, clock, outbound, broadcasts, messenger=None,
                            staff_chat=UserRef("telegram", "-1"), poll_interval=0.05)


async def test_only_one_leader_on_postgresql(settings, store, clock, outbound, broadcasts, db_url):
    from bot.storage.db import create_engine
    from bot.storage.repo import Store

    await add_subscribers(store, 2)
    row, _ = await broadcasts.create("A", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-01 11:00"))
    first = make_service(settings, store, clock, outbound, broadcasts)
    engine = create_engine(db_url)
    try:
        other_store = Store(engine, clock)
        other = make_service(settings, other_store, clock, outbound,
                             Broadcasts(other_store, settings, clock, topics=broadcasts.topics))
        await first.sync()
        await other.sync()
        assert first.leader.held and not other.leader.held
        assert other.scheduler.get_jobs() == [] and len(first.scheduler.get_jobs()) == 1
        await first.leader.release()  # the leader dies: the other takes over at its next sync
        await other.sync()
        assert other.leader.held
        await other.leader.release()
    finally:
        await engine.dispose()
    assert row.id
