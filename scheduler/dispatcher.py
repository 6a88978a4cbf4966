"""The broadcast dispatcher: claims delivery rows from the outbox and sends them through Outbound.

Guarantees, and how:
- Each row is sent by one worker: rows are claimed with a lease (scheduler.store.claim), and a
  worker checks its lease is still comfortably valid before sending.
- At most CHONNGHE_BROADCAST_CONCURRENCY rows are 'sending' at any moment per process: a worker
  waits until its result is written before taking its next row. After a kill -9 those rows (and
  only those) become 'unknown' and are not resent; every 'pending' row is served by the next start.
- Database writes are group-committed (many rows per transaction), so the database does not cap the
  send rate. A row is marked 'sending' the moment the rate limiter grants its slot, in a batch
  written a few milliseconds later (LINGER): by then the request is on the wire, so 'unknown' means
  "probably delivered", and a row whose request never left stays 'pending' and is sent after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.clock import Clock, SystemClock, Ticker
from bot.outbound import Outbound
from bot.ports import Blocked, Deferred, Permanent, RateLimited, Skipped, Transient
from bot.types import Button, Reply, UserRef
from scheduler.quiet import QuietHours
from scheduler.ratelimit import ON_GRANT
from scheduler.store import BroadcastStore, Claimed, Outcome, loads

log = logging.getLogger(__name__)

# Seconds a write batch waits for company (also letting the request leave first). Each flush costs about
# 3 ms of CPU on SQLite however few rows it carries, so under a steady broadcast this sets the CPU the
# writes take: 5 ms meant ~125 flushes a second, a third of a core at 1,000 msg/s. A worker waits for its
# result to be written, so a longer linger needs more concurrency (CHONNGHE_BROADCAST_CONCURRENCY).
LINGER = 0.01
MAX_BACKOFF = 300.0  # seconds between retries of a 5xx / network error, at most
STATUS_TTL = 0.1  # seconds a broadcast's "still sending" answer is reused before asking the database again
FOOTER = "\n\n— Ngừng nhận tin: nhắn /huy"  # every broadcast says how to stop them

FinishedHook = Callable[[int, str], Awaitable[None]]


def worker_name() -> str:
    """This process's name on claimed rows: host, pid and a random suffix."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{random.randrange(16**4):04x}"


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt` (1, 2, 4, ... capped), with jitter so retries spread out."""
    base = min(MAX_BACKOFF, 2.0 ** max(0, attempt - 1))
    return base * random.uniform(0.8, 1.2)


def render(text: str, buttons_json: str) -> Reply:
    """The Reply recipients get: the text, the unsubscribe footer, and the buttons (links or payloads)."""
    rows = []
    for b in loads(buttons_json):
        rows.append((Button(label=b["label"], payload=b.get("payload"), url=b.get("url")),))
    return Reply(text.rstrip() + FOOTER, tuple(rows))


@dataclass
class _Batch:
    marks: list[int] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    waiters: list[asyncio.Future] = field(default_factory=list)


class _Writer:
    """Group commit: marks and outcomes from every worker go to the database together."""

    def __init__(self, bstore: BroadcastStore, worker: str, lease: timedelta, linger: float, ticker: Ticker):
        self.bstore, self.worker, self.lease, self.linger = bstore, worker, lease, linger
        self.ticker = ticker
        self.batch = _Batch()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.flushes = 0

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="dispatch-writer")

    def mark(self, row_id: int) -> None:
        self.batch.marks.append(row_id)
        self.wake.set()

    async def record(self, outcome: Outcome) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.batch.outcomes.append(outcome)
        self.batch.waiters.append(fut)
        self.wake.set()
        await fut

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.linger:
                await self.ticker.sleep(self.linger)
            batch, self.batch = self.batch, _Batch()
            if not (batch.marks or batch.outcomes):
                continue
            if batch.marks and batch.outcomes:
                # A row whose answer came back within the linger needs no 'sending' mark: its outcome,
                # written in the same transaction, says what happened. One statement fewer per flush.
                finished = {o.id for o in batch.outcomes}
                batch.marks = [m for m in batch.marks if m not in finished]
            while True:
                try:
                    await self.bstore.apply(self.worker, batch.marks, batch.outcomes, self.lease)
                    self.flushes += 1
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("writing %d delivery results failed; retrying", len(batch.outcomes))
                    await self.ticker.sleep(0.5)
            for fut in batch.waiters:
                if not fut.done():
                    fut.set_result(None)

    async def close(self, grace: float = 10.0) -> None:
        # Let the last batch go out (for a while: a dead database must not block shutdown), then stop.
        deadline = self.ticker.monotonic() + grace
        while (self.batch.marks or self.batch.outcomes) and self.ticker.monotonic() < deadline:
            self.wake.set()
            await self.ticker.sleep(self.linger or 0.001)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class Dispatcher:
    """Sends the deliveries of every broadcast in 'sending', shared with other processes via leases.

    `clock` gives the time rows are due and leases run out (tests move it); every wait (polls, lease
    renewal, write batching, retries after a database error) runs on `ticker`, the system clock unless
    given. They are apart because the dispatcher's work is real I/O: a test keeps the pacing real and
    uses its own ticker to see when the feed has looked again, instead of sleeping and hoping."""

    def __init__(
        self,
        bstore: BroadcastStore,
        outbound: Outbound,
        clock: Clock,
        *,
        concurrency: int = 16,
        max_attempts: int = 5,
        quiet: QuietHours | None = None,
        lease: timedelta = timedelta(minutes=2),
        poll_interval: float = 1.0,
        linger: float = LINGER,
        on_finished: FinishedHook | None = None,
        worker: str | None = None,
        ticker: Ticker | None = None,
    ):
        self.bstore = bstore
        self.outbound = outbound
        self.clock = clock
        self.ticker: Ticker = ticker or SystemClock()
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.quiet = quiet
        self.lease = lease
        self.poll_interval = poll_interval
        self.on_finished = on_finished
        self.worker = worker or worker_name()
        self.batch_size = max(2 * concurrency, 32)
        self.writer = _Writer(bstore, self.worker, lease, linger, self.ticker)
        self.queue: asyncio.Queue[tuple[Claimed, datetime]] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._status: dict[int, asyncio.Future[bool]] = {}  # broadcast id -> is it still sending
        self._status_at: dict[int, float] = {}
        self._room = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._replies: dict[int, Reply] = {}
        self._held: set[int] = set()  # ids queued or in flight here
        self._renewed_at: datetime | None = None
        self._stopping = False
        self.sent = 0

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer, the workers, the feed and the lease renewal."""
        self.writer.start()
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"dispatch-{i}") for i in range(self.concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._feed(), name="dispatch-feed"))
        self._tasks.append(asyncio.create_task(self._renew(), name="dispatch-renew"))
        log.info("dispatcher %s started (%d workers)", self.worker, self.concurrency)

    def wake(self) -> None:
        """New work may exist (a broadcast started, time moved): look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking rows, let sends in flight finish and their results be written, give back the rest."""
        self._stopping = True
        self._wake.set()
        feed = self._tasks[-2:]
        for task in feed:
            task.cancel()
        await asyncio.gather(*feed, return_exceptions=True)
        while not self.queue.empty():  # rows claimed but not started go back to the pool
            item = self.queue.get_nowait()
            self.queue.task_done()
            if item is not None:
                self._held.discard(item[0].id)
        workers = self._tasks[:-2]
        for _ in workers:
            self.queue.put_nowait(None)  # type: ignore[arg-type]
        _done, pending = await asyncio.wait(workers, timeout=grace) if workers else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.writer.close()
        try:
            await self.bstore.release(self.worker)
        except Exception:
            log.exception("releasing claimed rows failed (their lease will expire)")
        log.info("dispatcher %s stopped", self.worker)

    # --- feeding -------------------------------------------------------------------------------

    async def _feed(self) -> None:
        while not self._stopping:
            try:
                now = self.clock.now()
                if self.quiet is not None and self.quiet.contains(now):
                    wait = (self.quiet.end_after(now) - now).total_seconds()
                    await self._sleep(min(self.poll_interval, max(wait, 0.01)))
                    continue
                if self.queue.qsize() >= self.concurrency:
                    self._room.clear()
                    await self._room.wait()
                    continue
                rows = await self.bstore.claim(self.worker, self.batch_size, self.lease)
                if rows:
                    claimed_at = self.clock.now()
                    fresh = 0
                    for row in rows:
                        # A row already in our hands (its lease ran out while it waited) is not queued twice.
                        if row.id not in self._held:
                            self._held.add(row.id)
                            self.queue.put_nowait((row, claimed_at))
                            fresh += 1
                    if fresh:
                        continue
                    await self._sleep(self.poll_interval)
                    continue
                await self._check_finished()
                await self._sleep(self.poll_interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher feed failed; retrying")
                await self.ticker.sleep(1.0)

    async def _sleep(self, seconds: float) -> None:
        """Wait `seconds` on the ticker, or less when wake() is called meanwhile."""
        self._wake.clear()
        sleeper = asyncio.create_task(self.ticker.sleep(seconds), name="dispatch-poll")
        woken = asyncio.create_task(self._wake.wait(), name="dispatch-wake")
        try:
            await asyncio.wait((sleeper, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            woken.cancel()

    async def _check_finished(self) -> None:
        for bid in await self.bstore.sending_ids():
            status = await self.bstore.finish_if_complete(bid)
            if status is not None:
                self._replies.pop(bid, None)
                log.info("broadcast %d finished: %s", bid, status)
                if self.on_finished is not None:
                    try:
                        await self.on_finished(bid, status)
                    except Exception:
                        log.exception("finish hook failed for broadcast %d", bid)

    async def _renew(self) -> None:
        interval = max(self.lease.total_seconds() / 4, 0.05)
        while True:
            await self.ticker.sleep(interval)
            try:
                now = self.clock.now()
                await self.bstore.renew(self.worker, self.lease)
                self._renewed_at = now
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing leases failed")

    # --- sending -------------------------------------------------------------------------------

    async def _reply_for(self, broadcast_id: int) -> Reply | None:
        reply = self._replies.get(broadcast_id)
        if reply is None:
            b = await self.bstore.get(broadcast_id)
            if b is None:
                return None
            reply = self._replies[broadcast_id] = render(b.text, b.buttons)
        return reply

    async def _still_sending(self, broadcast_id: int) -> bool:
        """Whether the broadcast is still 'sending', read at most every STATUS_TTL seconds (shared by the
        workers): a cancel stops this process's sends within that time plus the requests in flight."""
        checked = self._status.get(broadcast_id)
        if checked is not None and (not checked.done()
                                    or self.ticker.monotonic() - self._status_at[broadcast_id] < STATUS_TTL):
            return await asyncio.shield(checked)
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._status[broadcast_id], self._status_at[broadcast_id] = fut, self.ticker.monotonic()
        try:
            b = await self.bstore.get(broadcast_id)
            fut.set_result(b is not None and b.status == "sending")
        except Exception as exc:  # the database is away: keep sending what we hold (leases guard the rest)
            log.warning("broadcast %d: status check failed (%s)", broadcast_id, exc)
            fut.set_result(True)
        return fut.result()

    def _lease_ok(self, claimed_at: datetime, now: datetime) -> bool:
        start = max(claimed_at, self._renewed_at or claimed_at)
        return start + self.lease - now > self.lease / 4

    async def _worker(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if item is None:
                    return
                row, claimed_at = item
                if self.queue.qsize() < self.concurrency:
                    self._room.set()
                try:
                    await self._deliver(row, claimed_at)
                finally:
                    self._held.discard(row.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("delivery worker error")
            finally:
                self.queue.task_done()

    async def _deliver(self, row: Claimed, claimed_at: datetime) -> None:
        now = self.clock.now()
        if self.quiet is not None and self.quiet.contains(now):
            # Quiet hours began while the row waited: hand it back for the morning.
            await self.writer.record(Outcome(row.id, "release", not_before=self.quiet.end_after(now)))
            return
        if not self._lease_ok(claimed_at, now):
            await self.writer.record(Outcome(row.id, "release"))
            return
        reply = await self._reply_for(row.broadcast_id)
        if reply is None:
            await self.writer.record(
                Outcome(row.id, "failed", error="broadcast vanished", attempts=row.attempts)
            )
            return
        # Claimed rows wait in the queue: staff may cancel the broadcast, the person may delete their
        # data meanwhile (both already marked the row 'skipped' in the database). Look again.
        if row.user_id in self.bstore.store.privacy.recently_deleted or not await self._still_sending(
            row.broadcast_id
        ):
            return
        marked = False

        def on_grant() -> None:
            nonlocal marked
            marked = True
            self.writer.mark(row.id)

        token = ON_GRANT.set(on_grant)
        attempts = row.attempts + 1
        try:
            message_id = await self.outbound.send_once(
                UserRef(row.channel, row.platform_id), reply, bulk=True
            )
            outcome = Outcome(row.id, "sent", message_id=message_id, at=self.clock.now(), attempts=attempts)
            self.sent += 1
        except (
            RateLimited
        ) as exc:  # the channel is paused already; the platform's pacing is not the row's fault
            outcome = self._later(row, exc.reason, exc.retry_after, attempts - 1)
        except Deferred as exc:
            outcome = self._later(row, exc.reason, exc.retry_after, attempts - 1)
        except Blocked as exc:
            outcome = Outcome(row.id, "blocked", error=exc.reason, attempts=attempts)
        except Skipped as exc:
            outcome = Outcome(row.id, "skipped", error=exc.reason, attempts=attempts)
        except Permanent as exc:
            outcome = Outcome(row.id, "failed", error=exc.reason, attempts=attempts)
        except Transient as exc:
            outcome = self._retry(row, exc.reason, attempts)
        except Exception as exc:  # a bug in an adapter must not lose the row
            log.exception("unexpected error sending to %s:%s", row.channel, row.platform_id)
            outcome = self._retry(row, f"{type(exc).__name__}: {exc}", attempts)
        finally:
            ON_GRANT.reset(token)
        if not marked and outcome.status != "sent":
            # Refused before the slot was granted (e.g. the channel is not running here): the row was
            # never in flight, so it is still 'pending' in the database.
            outcome = Outcome(outcome.id, "release" if outcome.status == "pending" else outcome.status,
                              error=outcome.error, not_before=outcome.not_before, attempts=outcome.attempts)
        await self.writer.record(outcome)

    def _later(self, row: Claimed, reason: str, retry_after: float, attempts: int) -> Outcome:
        when = self.clock.now() + timedelta(seconds=max(retry_after, 0.0))
        return Outcome(row.id, "pending", error=reason, not_before=when, attempts=attempts)

    def _retry(self, row: Claimed, reason: str, attempts: int) -> Outcome:
        if attempts >= self.max_attempts:
            return Outcome(row.id, "failed", error=f"{reason} (after {attempts} attempts)", attempts=attempts)
        return self._later(row, reason, backoff(attempts), attempts)
