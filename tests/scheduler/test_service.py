"""The scheduler service: jobs rebuilt from rows, grace for late starts, the CLI's broadcasts picked
up without a restart, the leader lock, the calendar's drafts and the staff summaries."""

from __future__ import annotations

import pytest

from bot.content import load_content
from bot.types import UserRef
from scheduler.broadcasts import Broadcasts
from scheduler.service import JOB_PREFIX, SchedulerService
from tests.conftest import BACKENDS
from tests.scheduler.conftest import add_subscribers, eventually

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


class Staff:
    """Records what the service tells the staff chat."""

    def __init__(self):
        self.messages: list[tuple[UserRef, str]] = []

    async def send(self, to, reply):
        self.messages.append((to, reply.text))
        return "1"


def make_service(settings, store, clock, outbound, broadcasts, staff=None, campaigns=()):
    return SchedulerService(settings, store, clock, outbound, broadcasts, campaigns=lambda: campaigns,
                            messenger=staff, staff_chat=UserRef("telegram", "-100500"), poll_interval=0.05,
                            dispatcher_poll=0.02, linger=0.001)


async def wait_status(broadcasts: Broadcasts, bid: int, *statuses: str) -> str:
    async def reached():
        return (await broadcasts.get(bid)).status in statuses

    await eventually(reached)
    return (await broadcasts.get(bid)).status


async def test_jobs_are_rebuilt_from_the_database(settings, store, clock, outbound, broadcasts):
    await add_subscribers(store, 2)
    a, _ = await broadcasts.create("A", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-02 09:00"))
    b, _ = await broadcasts.create("B", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-03 09:00"))
    service = make_service(settings, store, clock, outbound, broadcasts)
    await service.sync()  # what start() does first: the job store starts empty and is filled from rows
    jobs = {job.id: job for job in service.scheduler.get_jobs()}
    assert set(jobs) == {f"{JOB_PREFIX}{a.id}", f"{JOB_PREFIX}{b.id}"}
    assert jobs[f"{JOB_PREFIX}{a.id}"].trigger.run_date == a.send_at
    assert jobs[f"{JOB_PREFIX}{a.id}"].misfire_grace_time == 6 * 3600 and jobs[f"{JOB_PREFIX}{a.id}"].coalesce
    await broadcasts.cancel(b.id)
    await broadcasts.edit(a.id, at=broadcasts.parse_when("2026-09-04 10:00"))
    await service.sync()
    jobs = {job.id: job for job in service.scheduler.get_jobs()}
    assert set(jobs) == {f"{JOB_PREFIX}{a.id}"}
    assert broadcasts.local(jobs[f"{JOB_PREFIX}{a.id}"].trigger.run_date) == "2026-09-04 10:00"
    await service.leader.release()


async def test_due_broadcast_is_sent_and_staff_get_a_summary(
    settings, store, clock, outbound, broadcasts, adapter
):
    await add_subscribers(store, 20)
    row, _ = await broadcasts.create(
        "Mùa tuyển sinh", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-01 11:00")
    )
    staff = Staff()
    service = make_service(settings, store, clock, outbound, broadcasts, staff)
    await service.start()
    try:
        clock.advance(hours=1)  # 11:00: the poll finds it due
        assert await wait_status(broadcasts, row.id, "done") == "done"
        await eventually(lambda: staff.messages)
    finally:
        await service.stop()
    assert len(adapter.sent) == 20
    to, text = staff.messages[0]
    assert to == UserRef("telegram", "-100500")
    assert f"Tin #{row.id}" in text and "đã gửi xong" in text and "Đã gửi: 20/20" in text


async def test_late_within_grace_is_sent_beyond_grace_is_missed(settings, store, clock, outbound, broadcasts,
                                                              adapter):
    await add_subscribers(store, 3)
    soon, _ = await broadcasts.create("Sớm", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-01 11:00"))
    later, _ = await broadcasts.create("Muộn", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-01 17:00"))
    # The service was down from 10:00 until 17:30 the same day: "Sớm" is 6.5 h late, "Muộn" 30 min.
    clock.advance(hours=7, minutes=30)
    staff = Staff()
    service = make_service(settings, store, clock, outbound, broadcasts, staff)
    await service.start()
    try:
        assert await wait_status(broadcasts, later.id, "done") == "done"
        assert (await broadcasts.get(soon.id)).status == "missed"
    finally:
        await service.stop()
    texts = [t for _, t in staff.messages]
    assert any(f"Tin #{soon.id}" in t and "bị lỡ" in t for t in texts), texts
    assert len(adapter.sent) == 3


async def test_a_broadcast_created_elsewhere_is_picked_up_without_restart(settings, store, clock, outbound,
                                                                         broadcasts, adapter, topics):
    await add_subscribers(store, 5)
    service = make_service(settings, store, clock, outbound, broadcasts)
    await service.start()
    try:
        cli = Broadcasts(store, settings, clock, topics=lambda: topics)  # no link to the running service
        row, _ = await cli.create("Từ dòng lệnh", ["tuyen_sinh"])
        assert await wait_status(broadcasts, row.id, "done") == "done"
    finally:
        await service.stop()
    assert len(adapter.sent) == 5


async def test_due_in_quiet_hours_waits_for_the_morning(settings, store, clock, outbound, broadcasts):
    await add_subscribers(store, 1)
    row, _ = await broadcasts.create("Tối", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-01 20:00"))
    clock.advance(hours=11, minutes=30)  # 21:30: quiet hours began after it was due (service was down)
    service = make_service(settings, store, clock, outbound, broadcasts)
    assert await service.fire(row.id) == "postponed"
    assert broadcasts.local((await broadcasts.get(row.id)).send_at) == "2026-09-02 07:00"


async def test_audience_gone_when_sending_starts_fails_clearly(settings, store, clock, outbound, broadcasts):
    ids = await add_subscribers(store, 1)
    row, _ = await broadcasts.create("A", ["tuyen_sinh"], at=broadcasts.parse_when("2026-09-01 11:00"))
    await store.subscriptions.remove(ids[0], None, "telegram")
    clock.advance(hours=1)
    staff = Staff()
    service = make_service(settings, store, clock, outbound, broadcasts, staff)
    assert await service.fire(row.id) == "failed"
    assert (await broadcasts.get(row.id)).error == "nobody in the audience when sending started"
    assert staff.messages


async def test_calendar_drafts_are_created_once_and_roll_over(settings, store, clock, outbound, broadcasts,
                                                             content_dir):
    campaigns = load_content(content_dir).campaigns
    service = make_service(settings, store, clock, outbound, broadcasts, campaigns=campaigns)
    await service.sync()
    drafts = await broadcasts.bstore.list(["draft"])
    keys = {d.campaign_key for d in drafts}
    assert "ngay_ky_nang_lao_dong.chao_mung:2026" in keys  # 02/10 is ahead of 01/09
    assert "mua_tuyen_sinh.mo_dau:2027" in keys  # rolled into next year
    assert "mua_tuyen_sinh.mo_dau:2026" not in keys  # already past
    skills = next(d for d in drafts if d.campaign_key == "ngay_ky_nang_lao_dong.chao_mung:2026")
    assert broadcasts.local(skills.send_at) == "2026-10-02 09:00"
    assert "Chào mừng Ngày Kỹ năng lao động Việt Nam 04/10" in skills.text
    await service.leader.release()
    again = make_service(settings, store, clock, outbound, broadcasts, campaigns=campaigns)
    await again.sync()
    await again.leader.release()
    assert len(await broadcasts.bstore.list(["draft"])) == len(drafts)
    # Nothing of it is scheduled: staff approve first.
    assert await broadcasts.bstore.list(["scheduled"]) == []


async def test_calendar_rolls_over_into_the_next_years(
    settings, store, clock, outbound, broadcasts, content_dir
):
    from datetime import UTC, datetime

    campaigns = load_content(content_dir).campaigns
    service = make_service(settings, store, clock, outbound, broadcasts, campaigns=campaigns)
    clock.set(datetime(2026, 12, 31, 16, 0, tzinfo=UTC))  # 23:00 on New Year's Eve in Hải Phòng
    await service.sync()

    async def keys() -> set[str]:
        return {d.campaign_key for d in await broadcasts.bstore.list(["draft"], limit=1000)}

    before = await keys()
    assert "mua_tuyen_sinh.mo_dau:2027" in before and "ngay_ky_nang_lao_dong.chao_mung:2027" in before
    assert not any(k.endswith(":2028") for k in before)
    assert "tuan_le_ky_nang_nghe.thong_bao:2026" in before  # undated: this year and the next
    clock.set(datetime(2027, 1, 1, 1, 0, tzinfo=UTC))  # 08:00 on 1 January: a new day, a new year
    await service.sync()
    after = await keys()
    assert "tuan_le_ky_nang_nghe.thong_bao:2028" in after and after > before
    clock.set(datetime(2027, 6, 1, 2, 0, tzinfo=UTC))  # June: next year's enrollment season is within a year
    await service.sync()
    june = await keys()
    assert "mua_tuyen_sinh.mo_dau:2028" in june and "ngay_ky_nang_lao_dong.chao_mung:2028" not in june
    await service.sync()  # the same day again: nothing new
    assert await keys() == june
    await service.leader.release()


async def test_a_slow_sync_is_not_doubled_and_not_logged(
    settings, store, clock, outbound, broadcasts, caplog
):
    import asyncio
    import logging

    service = make_service(settings, store, clock, outbound, broadcasts)
    job_options = {}
    runs = active = peak = ticks = 0
    release = asyncio.Event()
    real_tick = service._tick

    async def slow_sync():  # a big broadcast starting, a slow database: slow for as long as the test says
        nonlocal runs, active, peak
        async with service._sync_lock:
            runs += 1
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1

    async def counted_tick():
        nonlocal ticks
        ticks += 1
        await real_tick()

    service._tick = counted_tick  # what start() hands to APScheduler
    caplog.set_level(logging.DEBUG, logger="apscheduler")
    await service.start()  # syncs once for real
    service.sync = slow_sync
    try:
        job = service.scheduler.get_job("sync")
        job_options = {"misfire": job.misfire_grace_time, "coalesce": job.coalesce, "max": job.max_instances}
        # APScheduler ticks on the event loop's own clock, every 0.05 s here: wait for four of them.
        await eventually(lambda: ticks >= 4)
        during = runs  # the first tick's sync still runs; the three after it did nothing
        release.set()
        await eventually(lambda: runs >= 2)  # once it is over, the next tick syncs again
    finally:
        release.set()
        await service.stop()
    assert job_options == {"misfire": None, "coalesce": True, "max": 3}
    assert during == 1 and peak == 1
    assert not [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
    assert not [r for r in caplog.records
                if r.levelno >= logging.WARNING and r.name.startswith("apscheduler")]


async def test_registrations_are_anonymised_after_the_retention(settings, store, clock, outbound, broadcasts):
    import sqlalchemy as sa

    from bot.storage.models import Lead, StaffAudit

    user = await store.users.touch(UserRef("telegram", "77"))
    await store.leads.add(user.id, "telegram", full_name="Nguyễn Văn An", phone="0912345678", who="student",
                          birth_year=2008, trade_id="nghe.han", call_time="any")
    service = make_service(settings, store, clock, outbound, broadcasts)
    clock.advance(days=364)  # 12 months (the default) have not passed yet
    await service.sync()
    (lead,) = await store.leads.list()
    assert lead.phone == "0912345678" and lead.anonymised_at is None
    clock.advance(days=2)
    await service.sync()
    (lead,) = await store.leads.list()
    assert ((lead.full_name, lead.phone, lead.user_id) == (None, None, None)
            and lead.anonymised_at == clock.now())
    assert (lead.trade_id, lead.birth_year) == ("nghe.han", 2008)  # what the counts need stays
    async with store.session() as s:
        audit = (await s.execute(sa.select(StaffAudit.command)
                                 .where(StaffAudit.channel == "scheduler"))).all()
        assert audit == [("leads anonymised: 1",)]
        assert (await s.execute(sa.select(sa.func.count()).select_from(Lead))).scalar_one() == 1
    await service.leader.release()
