"""The dispatcher against a fake channel: exactly once, every error path, crashes, shared work."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
import sqlalchemy as sa

from bot.outbound import Outbound
from bot.ports import Blocked, Deferred, Permanent, RateLimited, Skipped, Transient
from bot.storage.models import Delivery, User
from bot.types import UserRef
from scheduler.dispatcher import FOOTER, Dispatcher
from scheduler.store import BroadcastStore
from tests.conftest import BACKENDS
from tests.fakes.ticker import RecordingTicker
from tests.scheduler.conftest import add_subscribers, deliveries, eventually

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


async def start_broadcast(
    bstore: BroadcastStore, text: str = "Thông báo tuyển sinh", topics=("tuyen_sinh",)
) -> int:
    row = await bstore.create(text=text, topics=list(topics), status="scheduled", send_at=bstore.clock.now())
    total = await bstore.start_sending(row.id)
    assert total is not None
    return row.id


async def until_finished(bstore: BroadcastStore, bid: int, limit: float = 15.0) -> str:
    async def finished():
        return (await bstore.get(bid)).status not in ("sending", "scheduled")

    await eventually(finished, limit)
    return (await bstore.get(bid)).status


def make(bstore, outbound, clock, **kw) -> Dispatcher:
    kw.setdefault("concurrency", 4)
    return Dispatcher(bstore, outbound, clock, poll_interval=0.02, linger=0.001, **kw)


async def test_every_subscriber_gets_it_exactly_once(store, outbound, adapter, clock):
    await add_subscribers(store, 150)
    await add_subscribers(store, 5, topic="viec_lam", start=1000)  # not in the audience
    bstore = BroadcastStore(store)
    finished = []

    async def on_finished(bid, status):
        finished.append((bid, status))

    bid = await start_broadcast(bstore)
    d = make(bstore, outbound, clock, on_finished=on_finished)
    await d.start()
    try:
        assert await until_finished(bstore, bid) == "done"
    finally:
        await d.stop()
    assert sorted(adapter.receivers(), key=int) == [str(i) for i in range(1, 151)]
    assert adapter.sent[0][1].text == "Thông báo tuyển sinh" + FOOTER
    assert await bstore.counts(bid) == {"sent": 150}
    assert (await bstore.channel_counts(bid)) == {"telegram": {"sent": 150}}
    assert finished == [(bid, "done")]
    assert adapter.max_in_flight <= 4
    rows = await deliveries(store, bid)
    assert {status for _, status, _ in rows} == {"sent"} and {a for *_, a in rows} == {1}


async def test_errors_end_in_the_right_status(store, outbound, adapter, clock):
    await add_subscribers(store, 6)
    adapter.script = {
        "1": [Blocked("Forbidden: bot was blocked by the user")],
        "2": [Skipped("outside the interaction window")],
        "3": [Permanent("Bad Request: message is too long")],
        "4": [Transient("502 Bad Gateway")],
        "5": [RateLimited("Too Many Requests", retry_after=3)],
        "6": [Deferred("night time", retry_after=60)],
    }
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    ticker = RecordingTicker()
    d = make(bstore, outbound, clock, max_attempts=3, ticker=ticker)
    await d.start()
    try:
        async def first_round_done():
            c = await bstore.counts(bid)
            return c.get("pending", 0) + c.get("sending", 0) <= 3 and len(adapter.attempts) == 6

        await eventually(first_round_done)
        # 4, 5 and 6 wait for their retry time, which never comes while the clock stands still: the
        # feed polls again and sends nothing. Then move the clock instead of sleeping.
        await ticker.more("dispatch-poll")
        assert (await bstore.get(bid)).status == "sending"
        assert adapter.attempts == dict.fromkeys("123456", 1)
        clock.advance(minutes=5)
        d.wake()
        assert await until_finished(bstore, bid) == "done"
    finally:
        await d.stop()
    rows = {pid: (status, attempts) for pid, status, attempts in await deliveries(store, bid)}
    assert rows["1"] == ("blocked", 1)
    assert rows["2"][0] == "skipped" and rows["3"][0] == "failed"
    assert rows["4"] == ("sent", 2)  # the 502 counted as an attempt
    assert rows["5"] == ("sent", 1) and rows["6"] == ("sent", 1)  # 429 / deferral are not the row's fault
    blocked = await store.users.get(UserRef("telegram", "1"))
    assert blocked.active is False  # Outbound marks a blocked user inactive
    assert sorted(adapter.receivers()) == ["4", "5", "6"]


async def test_transient_errors_give_up_after_max_attempts(store, outbound, adapter, clock):
    await add_subscribers(store, 2)
    adapter.script = {"1": [Transient("network down")] * 10}
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    ticker = RecordingTicker()
    d = make(bstore, outbound, clock, max_attempts=3, ticker=ticker)
    await d.start()
    try:
        async with asyncio.timeout(10):
            while (await bstore.get(bid)).status == "sending":
                clock.advance(minutes=10)  # every retry is due at once
                d.wake()
                await ticker.more("dispatch-poll")  # the feed has looked since
    finally:
        await d.stop()
    rows = {pid: (status, attempts) for pid, status, attempts in await deliveries(store, bid)}
    assert rows["1"] == ("failed", 3) and rows["2"] == ("sent", 1)
    assert adapter.attempts["1"] == 3


async def test_all_failed_makes_the_broadcast_failed(store, outbound, adapter, clock):
    await add_subscribers(store, 1)
    adapter.script = {"1": [Permanent("Bad Request")]}
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    d = make(bstore, outbound, clock)
    await d.start()
    try:
        assert await until_finished(bstore, bid) == "failed"
    finally:
        await d.stop()


async def test_unsubscribed_before_their_turn_is_skipped(store, outbound, adapter, clock):
    ids = await add_subscribers(store, 10)
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    await add_subscribers(store, 3, start=500)  # subscribed after the audience froze: not added
    await store.subscriptions.remove(ids[4], None, "telegram")
    await store.users.update(ids[7], active=False)
    d = make(bstore, outbound, clock)
    await d.start()
    try:
        assert await until_finished(bstore, bid) == "done"
    finally:
        await d.stop()
    assert await bstore.counts(bid) == {"sent": 8, "skipped": 2}
    assert (
        "5" not in adapter.receivers() and "8" not in adapter.receivers() and "500" not in adapter.receivers()
    )


async def test_in_flight_rows_never_exceed_concurrency(store, outbound, adapter, clock):
    await add_subscribers(store, 60)
    adapter.delay = 0.01
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    seen = []

    async def sample():
        while True:
            seen.append((await bstore.counts(bid)).get("sending", 0))
            await asyncio.sleep(0)  # the query is the pace: sample as often as the database answers

    d = make(bstore, outbound, clock, concurrency=3)
    sampler = asyncio.create_task(sample())
    await d.start()
    try:
        assert await until_finished(bstore, bid) == "done"
    finally:
        sampler.cancel()
        await d.stop()
    assert max(seen) <= 3 and adapter.max_in_flight <= 3
    assert len(adapter.sent) == 60


async def test_crash_mid_way_then_restart_resumes_without_resending(store, adapter, clock):
    bstore = BroadcastStore(store)
    if not bstore.is_postgres:
        pytest.skip("SQLite: a task cancelled inside a write transaction can keep the file locked until the "
                    "garbage collector finds its connection, which a killed process never does; "
                    "tests/scheduler/test_kill.py SIGKILLs a real process on SQLite and PostgreSQL")
    await add_subscribers(store, 80)
    adapter.delay = 0.005
    bid = await start_broadcast(bstore)
    outbound = Outbound(store)
    outbound.register(adapter)
    first = make(bstore, outbound, clock, concurrency=4, worker="first")
    await first.start()
    await eventually(lambda: len(adapter.sent) >= 30, step=0.001)
    # kill -9: every task dies where it stands, nothing is written or released.
    for task in [*first._tasks, first.writer.task]:
        task.cancel()
    await asyncio.gather(*first._tasks, first.writer.task, return_exceptions=True)
    # A killed process takes its database connections with it; in one process, close them.
    await store.engine.dispose()
    received_before = Counter(adapter.receivers())

    # The next start: SQLite reaps every 'sending' row; PostgreSQL waits for the lease to run out.
    clock.advance(minutes=10)
    unknown = await bstore.reap(everything=not bstore.is_postgres)
    assert unknown <= 4
    second = make(bstore, outbound, clock, concurrency=4, worker="second")
    await second.start()
    try:
        assert await until_finished(bstore, bid) == "done"
    finally:
        await second.stop()
    counts = await bstore.counts(bid)
    assert counts.get("sent", 0) + counts.get("unknown", 0) == 80 and counts.get("unknown", 0) == unknown
    received = Counter(adapter.receivers())
    statuses = {pid: status for pid, status, _ in await deliveries(store, bid)}
    for pid in map(str, range(1, 81)):
        assert received[pid] >= 1 or statuses[pid] == "unknown", f"{pid} missed"
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    assert duplicates <= 4
    # Unknown rows were not sent again after the restart.
    for pid, status in statuses.items():
        if status == "unknown":
            assert received[pid] == received_before[pid]


async def test_two_dispatchers_share_one_broadcast_without_duplicates(store, adapter, clock, db_url):
    from bot.storage.db import create_engine
    from bot.storage.repo import Store

    await add_subscribers(store, 300)
    adapter.delay = 0.002
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    other_engine = create_engine(db_url)  # a second connection pool, as a second process would have
    other = Store(other_engine, clock)
    out_a, out_b = Outbound(store), Outbound(other)
    out_a.register(adapter)
    out_b.register(adapter)
    a = make(bstore, out_a, clock, worker="a")
    b = make(BroadcastStore(other), out_b, clock, worker="b")
    await a.start()
    await b.start()
    try:
        assert await until_finished(bstore, bid) == "done"
    finally:
        await a.stop()
        await b.stop()
        await other_engine.dispose()
    received = Counter(adapter.receivers())
    assert len(received) == 300 and max(received.values()) == 1
    assert a.sent > 0 and b.sent > 0, (a.sent, b.sent)
    async with store.session() as s:
        workers = dict(
            (
                await s.execute(
                    sa.select(Delivery.leased_by, sa.func.count())
                    .where(Delivery.broadcast_id == bid)
                    .group_by(Delivery.leased_by)
                )
            ).all()
        )
    assert set(workers) == {"a", "b"}


async def test_deleted_user_before_their_turn_is_skipped(store, outbound, adapter, clock):
    ids = await add_subscribers(store, 3)
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    await store.privacy.delete(ids[0])
    async with store.session() as s:
        assert await s.get(User, ids[0]) is None
    d = make(bstore, outbound, clock)
    await d.start()
    try:
        assert await until_finished(bstore, bid) == "done"
    finally:
        await d.stop()
    assert await bstore.counts(bid) == {"sent": 2, "skipped": 1}


async def test_a_cancel_stops_the_queue_and_the_record_matches_what_went_out(store, adapter, clock, settings,
                                                                             topics):
    """Rows already claimed into the queue are not sent once the broadcast is cancelled (beyond the
    requests already on their way and one status check, STATUS_TTL); what did go out is recorded as
    sent, everything else as skipped."""
    from scheduler.broadcasts import Broadcasts

    broadcasts = Broadcasts(store, settings, clock, topics=lambda: topics)
    bstore = broadcasts.bstore
    await add_subscribers(store, 40)
    adapter.delay = 0.05  # a slow platform: claimed rows wait in the queue
    outbound = Outbound(store)
    outbound.register(adapter)
    bid = await start_broadcast(bstore)
    d = make(bstore, outbound, clock)
    await d.start()
    try:
        await eventually(lambda: adapter.in_flight >= 4 and len(d._held) > 8, step=0.001)
        await broadcasts.cancel(bid)
        started_at_cancel = sum(adapter.attempts.values())
        await eventually(lambda: not d._held)  # the queue drains without sending

        async def settled():
            return (await bstore.counts(bid)).keys() <= {"sent", "skipped"}

        await eventually(settled)
    finally:
        await d.stop()
    counts = await bstore.counts(bid)
    assert (await bstore.get(bid)).status == "cancelled"
    assert counts.get("sent", 0) == len(adapter.sent), (counts, len(adapter.sent))
    assert counts.get("skipped", 0) == 40 - len(adapter.sent) > 20
    # At most one status check's worth of sends started after the cancel (4 workers, 50 ms each).
    assert sum(adapter.attempts.values()) - started_at_cancel <= 4 * 3
    statuses = {pid: status for pid, status, _ in await deliveries(store, bid)}
    assert all(statuses[pid] == "sent" for pid in adapter.receivers())


async def test_a_user_deleting_their_data_mid_broadcast_gets_nothing_after(store, adapter, clock):
    ids = await add_subscribers(store, 30)
    adapter.delay = 0.05
    outbound = Outbound(store)
    outbound.register(adapter)
    bstore = BroadcastStore(store)
    bid = await start_broadcast(bstore)
    d = make(bstore, outbound, clock)
    await d.start()
    try:
        await eventually(lambda: adapter.in_flight >= 4 and len(d._held) > 8, step=0.001)
        # Someone claimed and queued, but not yet sent, deletes their data (as /xoadulieu does).
        index = max(n for n in range(30) if str(n + 1) not in adapter.attempts)  # platform ids 1..30
        platform_id = str(index + 1)
        await store.privacy.delete(ids[index])
        assert await until_finished(bstore, bid) == "done"
    finally:
        await d.stop()
    assert platform_id not in adapter.attempts
    assert await bstore.counts(bid) == {"sent": 29, "skipped": 1}
    assert len(adapter.sent) == 29


async def test_a_5xx_after_a_cancel_does_not_put_the_row_back(store, adapter, clock, settings, topics):
    from scheduler.broadcasts import Broadcasts

    broadcasts = Broadcasts(store, settings, clock, topics=lambda: topics)
    bstore = broadcasts.bstore
    await add_subscribers(store, 1)
    adapter.script = {"1": [Transient("502 Bad Gateway")]}
    outbound = Outbound(store)
    outbound.register(adapter)
    bid = await start_broadcast(bstore)
    cancelled = asyncio.Event()
    send = adapter.send

    async def cancel_while_in_flight(chat_id, reply):  # staff cancel while the request is on the wire
        await broadcasts.cancel(bid)
        cancelled.set()
        return await send(chat_id, reply)

    adapter.send = cancel_while_in_flight
    d = make(bstore, outbound, clock)
    await d.start()
    try:
        await asyncio.wait_for(cancelled.wait(), 5)

        async def written():
            return await deliveries(store, bid) == [("1", "skipped", 1)]

        await eventually(written)
        clock.advance(minutes=10)  # the retry would be due now
        d.wake()
        await eventually(lambda: not d._held)
    finally:
        await d.stop()
    assert await deliveries(store, bid) == [("1", "skipped", 1)]
    assert adapter.attempts == {"1": 1}
    assert (await bstore.get(bid)).status == "cancelled"
