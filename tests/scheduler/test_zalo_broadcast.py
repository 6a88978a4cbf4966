"""Broadcasts on Zalo's rules (issue 5, the broadcast side), with a fake in-process "zalo_oa" adapter
next to the Telegram one: Skipped ends `skipped` with the reason and is never retried; Deferred (the
night-time rule) sends later without counting as a failure; promotion broadcasts respect the
per-follower limits, and the planner says so before anything is sent."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.outbound import Outbound
from bot.ports import Deferred, Skipped
from bot.storage.models import Delivery
from bot.types import UserRef
from scheduler.broadcasts import Broadcasts
from scheduler.service import SchedulerService
from scheduler.store import Outcome
from tests.conftest import BACKENDS
from tests.scheduler.conftest import FakeAdapter, add_subscribers, eventually

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)

OA = 1000  # Zalo OA followers' platform ids start here


class Staff:
    def __init__(self):
        self.messages: list[str] = []

    async def send(self, to, reply):
        self.messages.append(reply.text)
        return "1"


@pytest.fixture
def zalo() -> FakeAdapter:
    return FakeAdapter("zalo_oa")


@pytest.fixture
def outbound(store, adapter, zalo) -> Outbound:
    out = Outbound(store)
    out.register(adapter)
    out.register(zalo)
    return out


async def rows(store, bid: int) -> dict[str, tuple[str, int, str | None]]:
    async with store.session() as s:
        result = await s.execute(sa.select(Delivery.platform_id, Delivery.status, Delivery.attempts,
                                           Delivery.last_error).where(Delivery.broadcast_id == bid))
        return {pid: (status, attempts, error) for pid, status, attempts, error in result.all()}


async def test_one_broadcast_on_telegram_and_zalo_oa_with_skipped_and_deferred(
    settings, store, clock, outbound, adapter, zalo, broadcasts
):
    await add_subscribers(store, 5)
    await add_subscribers(store, 4, channel="zalo_oa", start=OA)
    zalo.script = {
        str(OA): [Skipped("-230: user has not interacted with the OA in the last 7 days")],
        str(OA + 1): [Deferred("-234: no messages at night", retry_after=3600)] * 7,
    }
    staff = Staff()
    service = SchedulerService(
        settings,
        store,
        clock,
        outbound,
        broadcasts,
        messenger=staff,
        staff_chat=UserRef("telegram", "-100500"),
        poll_interval=0.05,
        dispatcher_poll=0.02,
        linger=0.001,
    )
    row, _ = await broadcasts.create("Ngày hội tư vấn tuyển sinh", ["tuyen_sinh"])
    await service.start()
    try:
        async def first_round():
            return len(adapter.sent) == 5 and len(zalo.attempts) == 4

        await eventually(first_round)
        # Zalo defers it seven times (more than max_attempts); each time the row waits for its hour.
        for attempt in range(1, 8):
            async def deferred(n=attempt):
                # Deferred and written back: pending again with its new time ahead. ("pending" alone can be
                # read while the send is still on its way; moving the clock then delays the row an hour.)
                async with store.session() as s:
                    status, not_before = (await s.execute(
                        sa.select(Delivery.status, Delivery.not_before)
                        .where(Delivery.broadcast_id == row.id, Delivery.platform_id == str(OA + 1)))).one()
                return (zalo.attempts.get(str(OA + 1)) == n and status == "pending" and not_before is not None
                        and not_before > clock.now())

            await eventually(deferred)
            clock.advance(hours=1, seconds=1)
            service.dispatcher.wake()

        async def done():
            return (await broadcasts.get(row.id)).status == "done"

        await eventually(done)
        await eventually(lambda: staff.messages)
    finally:
        await service.stop()

    shown = await broadcasts.show(row.id)
    assert shown["status"] == "done" and shown["total"] == 9
    assert shown["channels"] == {"telegram": {"sent": 5}, "zalo_oa": {"sent": 3, "skipped": 1}}
    assert shown["counts"] == {"sent": 8, "skipped": 1}
    by_pid = await rows(store, row.id)
    assert by_pid[str(OA)] == ("skipped", 1, "-230: user has not interacted with the OA in the last 7 days")
    assert zalo.attempts[str(OA)] == 1  # never retried
    status, attempts, _ = by_pid[str(OA + 1)]
    assert status == "sent" and attempts == 1  # seven deferrals, none counted as a failed attempt
    assert zalo.attempts[str(OA + 1)] == 8
    assert sorted(zalo.receivers()) == [str(OA + 1), str(OA + 2), str(OA + 3)]
    summary = staff.messages[-1]
    assert "Đã gửi: 8/9" in summary and "Theo kênh (đã gửi/người nhận): Telegram 5/5, Zalo OA 3/4" in summary


def limits(settings, per_day=1, per_month=2):
    return settings.model_copy(
        update={"zalo_oa_promo_per_day": per_day, "zalo_oa_promo_per_month": per_month}
    )


async def promo_round(svc: Broadcasts, promotion: bool = True) -> int:
    """Create a broadcast for now, start it as the scheduler does, and 'send' every pending row."""
    bstore = svc.bstore
    row = await bstore.create(text="Ưu đãi học phí", topics=["tuyen_sinh"], status="scheduled",
                              send_at=svc.clock.now(), promotion=promotion)
    assert await bstore.start_sending(row.id, promo=svc.promo) is not None
    claimed = await bstore.claim("w", 1000, lease=timedelta(minutes=1))
    now = svc.clock.now()
    await bstore.apply("w", [c.id for c in claimed],
                       [Outcome(c.id, "sent", message_id="m", at=now, attempts=1) for c in claimed],
                       lease=timedelta(minutes=1))
    await bstore.finish_if_complete(row.id)
    return row.id


async def test_promotion_limits_per_day_and_month(settings, store, clock, topics):
    svc = Broadcasts(store, limits(settings), clock, topics=lambda: topics)
    await add_subscribers(store, 2)
    await add_subscribers(store, 3, channel="zalo_oa", start=OA)

    plan = await svc.plan(["tuyen_sinh"], promotion=True)
    assert plan.counts == {"telegram": 2, "zalo_oa": 3} and plan.over == 0 and plan.warnings() == []

    first = await promo_round(svc)  # 1 September, 10:00
    assert await svc.bstore.channel_counts(first) == {"telegram": {"sent": 2}, "zalo_oa": {"sent": 3}}

    # The same day: every Zalo OA follower has had the day's promotion; the planner says so first.
    plan = await svc.plan(["tuyen_sinh"], promotion=True)
    assert (plan.over_day, plan.over_month) == (3, 0) and plan.reachable == {"telegram": 2, "zalo_oa": 0}
    (vi, en), = plan.warnings()
    assert "vượt giới hạn của Zalo OA" in vi and "0/3" in vi and "3 recipient(s) will be skipped" in en
    assert plan.per_channel_vi() == "Telegram 2, Zalo OA 0/3"
    assert (await svc.plan(["tuyen_sinh"], promotion=False)).warnings() == []  # a notice is not limited
    tomorrow = clock.now() + timedelta(days=1)
    assert (await svc.plan(["tuyen_sinh"], promotion=True, at=tomorrow)).over == 0

    second = await promo_round(svc)
    assert await svc.bstore.channel_counts(second) == {"telegram": {"sent": 2}, "zalo_oa": {"skipped": 3}}
    assert {e for s, _, e in (await rows(store, second)).values() if s == "skipped"} == {
        "Zalo OA promotion limit: 1 a day per follower already reached"}
    notice = await promo_round(svc, promotion=False)  # notices are not counted nor limited
    assert await svc.bstore.channel_counts(notice) == {"telegram": {"sent": 2}, "zalo_oa": {"sent": 3}}

    clock.advance(days=1)
    third = await promo_round(svc)  # 2 September: the second of the month's two
    assert await svc.bstore.channel_counts(third) == {"telegram": {"sent": 2}, "zalo_oa": {"sent": 3}}
    clock.advance(days=1)
    plan = await svc.plan(["tuyen_sinh"], promotion=True)
    assert (plan.over_day, plan.over_month) == (0, 3)
    fourth = await promo_round(svc)
    assert {e for s, _, e in (await rows(store, fourth)).values() if s == "skipped"} == {
        "Zalo OA promotion limit: 2 a month per follower already reached"}

    clock.advance(days=30)  # October: a new month
    assert (await svc.plan(["tuyen_sinh"], promotion=True)).over == 0


async def test_only_deliveries_that_went_or_may_go_count(settings, store, clock, topics):
    svc = Broadcasts(store, limits(settings), clock, topics=lambda: topics)
    ids = await add_subscribers(store, 2, channel="zalo_oa", start=OA)
    bstore = svc.bstore
    row = await bstore.create(text="A", topics=["tuyen_sinh"], status="scheduled", send_at=clock.now(),
                              promotion=True)
    await bstore.start_sending(row.id, promo=svc.promo)
    claimed = await bstore.claim("w", 10, lease=timedelta(minutes=1))
    first = next(c for c in claimed if c.user_id == ids[0])
    # One failed for good (not delivered: does not use the quota); the other is still on its way (does).
    await bstore.apply("w", [first.id], [Outcome(first.id, "failed", error="x", attempts=1)],
                       lease=timedelta(minutes=1))
    plan = await svc.plan(["tuyen_sinh"], promotion=True)
    assert (plan.over_day, plan.reachable) == (1, {"zalo_oa": 1})
