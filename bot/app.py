"""The composition root: builds every service once (database, content, engine, channels, scheduler),
wires them together and runs the service until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from bot.channels import telegram, zalo_bot, zalo_oa
from bot.channels import web as web_chat
from bot.channels.base import DEDUP_WINDOW, ChannelDeps, Off
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.console import web as console
from bot.content import ContentError
from bot.content.holder import ContentHolder
from bot.conversation import Conversation
from bot.health import STALE_QUESTION_S, DatabaseHealth, report
from bot.httpguard import GuardedRunner, deadline
from bot.outbound import Outbound
from bot.ports import ChannelAdapter
from bot.storage.db import create_engine, migrate
from bot.storage.repo import Store
from handlers import build_handler
from handlers.services import Services
from scheduler.broadcasts import Broadcasts
from scheduler.ratelimit import RateLimiter
from scheduler.service import SchedulerService

log = logging.getLogger(__name__)


class CannotStart(Exception):
    """The service refuses to start (the database cannot be opened or written); the text says why."""


class Fatal(Exception):
    """The service stopped itself because it could no longer do its job safely; the text says why."""


ChannelFactory = Callable[[ChannelDeps], Awaitable[ChannelAdapter | Off]]

# Every channel the service can run, in start order: each module's `create` returns its adapter when
# the channel is configured, or Off(why not). Adding a channel is one line here.
CHANNELS: tuple[tuple[str, ChannelFactory], ...] = (
    (telegram.CHANNEL, telegram.create),
    (zalo_oa.CHANNEL, zalo_oa.create),
    (zalo_bot.CHANNEL, zalo_bot.create),
    (web_chat.CHANNEL, web_chat.create),
)


@dataclass
class App:
    """Everything the running service holds. Built by `build_app`, started by `start`, stopped by `stop`."""

    settings: Settings
    clock: Clock
    content: ContentHolder
    store: Store
    outbound: Outbound
    services: Services
    conversation: Conversation
    scheduler: SchedulerService
    http: web.Application
    channels: dict[str, ChannelAdapter] = field(default_factory=dict)
    off: dict[str, str] = field(default_factory=dict)  # channel -> why it is not running
    health: DatabaseHealth | None = None
    runner: web.AppRunner | None = None
    pruner: asyncio.Task | None = None
    watcher: asyncio.Task | None = None
    fatal: str | None = None  # why the service stopped itself (the database file went away...)
    fatal_event: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = field(default_factory=time.monotonic)

    @property
    def channel_status(self) -> dict[str, str]:
        """Each channel's state for /healthz: "on", "paused: ..." or "off: <why>"."""
        status = {name: adapter.status for name, adapter in self.channels.items()}
        status.update({name: f"off: {why}" for name, why in self.off.items()})
        return {name: status[name] for name, _create in CHANNELS if name in status}

    @property
    def port(self) -> int | None:
        """The port actually bound (useful with CHONNGHE_HTTP_PORT=0)."""
        if self.runner is None:
            return None
        for site in self.runner.sites:
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                return server.sockets[0].getsockname()[1]
        return None


async def build_app(settings: Settings, clock: Clock | None = None,
                    channels: Sequence[tuple[str, ChannelFactory]] = CHANNELS) -> App:
    """Build every service and channel once, in dependency order; raises ContentError on broken content
    (the bot refuses to start)."""
    clock = clock or SystemClock()
    content = ContentHolder(settings.content_dir)  # validates first: broken content stops us here
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
    except Exception as exc:
        await engine.dispose()
        raise CannotStart(f"the database cannot be opened or migrated ({_short(exc)})") from exc
    store = Store(engine, clock)
    health = DatabaseHealth(store, settings.database_url)
    state = await health.check(force=True)
    if not state.writable:  # better a clear refusal now than a service that answers "sự cố" to everyone
        await engine.dispose()
        raise CannotStart(f"the database is not writable ({state.error})")
    # One limiter for live replies and broadcasts: the platforms count both against the same limits.
    outbound = Outbound(store, RateLimiter.from_settings(settings))
    broadcasts = Broadcasts(store, settings, clock,
                            topics=lambda: {t.id: t.label for t in content.base.topics.values()})
    services = Services(settings=settings, store=store, content=content, clock=clock, messenger=outbound,
                        broadcasts=broadcasts, alerts=outbound.alerts)
    conversation = Conversation(build_handler(services), outbound)
    scheduler = SchedulerService(settings, store, clock, outbound, broadcasts,
                                 campaigns=lambda: content.base.campaigns, messenger=outbound,
                                 staff_chat=services.staff_chat)
    http = web.Application(client_max_size=1024 * 1024, middlewares=[deadline])
    app = App(
        settings, clock, content, store, outbound, services, conversation, scheduler, http, health=health
    )

    deps = ChannelDeps(settings=settings, store=store, inbox=conversation, clock=clock)
    for name, create in channels:
        made = await create(deps)
        if isinstance(made, Off):
            app.off[name] = made.reason
            log.info("channel %s is off: %s", name, made.reason)
            continue
        app.channels[name] = made
        outbound.register(made)
        http.add_routes(made.routes())
    http.router.add_get("/healthz", _healthz(app))
    console.mount(http, app)  # the staff console under /console (bot/console)
    return app


def _healthz(app: App) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def healthz(_request: web.Request) -> web.Response:
        assert app.health is not None
        dispatcher = app.scheduler.dispatcher
        alerts = {}
        for name, adapter in app.channels.items():
            try:
                lines = adapter.alerts()
            except Exception as exc:  # a health page must answer whatever an adapter does
                lines = [f"alerts failed: {exc}"]
            if lines:
                alerts[name] = lines
        status, body = await report(
            database=app.health, channels=app.channel_status, alerts=alerts,
            dispatcher={"queued": dispatcher.queue.qsize(), "in_hand": len(dispatcher._held),
                        "sent": dispatcher.sent},
            unwritten_questions=app.store.questions.pending,
            stale_questions=app.store.questions.waiting_longer_than(STALE_QUESTION_S),
            extra={"entries": len(app.content.base.entries), "in_flight": app.conversation.in_flight,
                   "uptime_s": round(time.monotonic() - app.started_at, 1)})
        if app.fatal:
            status, body["status"] = 503, "failing"
            body["problems"].insert(0, app.fatal)
        return web.json_response(body, status=status)
    return healthz


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


WATCH_EVERY = 2.0  # seconds between checks that the SQLite file is still the one opened


async def _watch_database(app: App) -> None:
    """Stop the service, with a clear message, when the SQLite file is deleted or replaced: serving on
    would answer from an empty database (or write into a deleted one) and lose every write silently."""
    assert app.health is not None
    while True:
        await asyncio.sleep(WATCH_EVERY)
        problem = app.health.file_problem()
        if problem is not None:
            app.fatal = f"{problem}: stopping rather than serve from a database that is not ours"
            log.critical("%s. Restore the file (or point CHONNGHE_DATABASE_URL at the right one) and start "
                         "again.", app.fatal)
            app.fatal_event.set()
            return


async def start(app: App) -> None:
    """Start the HTTP server, then the channels, then the scheduler."""
    # timeouts and connection caps (bot.httpguard)
    app.runner = GuardedRunner(app.http, access_log=None, max_total=app.settings.http_max_connections)
    await app.runner.setup()
    site = web.TCPSite(app.runner, app.settings.http_host, app.settings.http_port)
    await site.start()
    log.info("HTTP server on %s:%s", app.settings.http_host, app.port)
    for name, adapter in app.channels.items():
        await adapter.start()
        log.info("channel %s started", name)
    if app.channels:
        app.pruner = asyncio.create_task(_prune_processed(app.store), name="prune-processed-updates")
    if app.health is not None and app.health.file is not None:
        app.watcher = asyncio.create_task(_watch_database(app), name="watch-database-file")
    await app.scheduler.start()


GC_FULL_AFTER = 100  # collections of the middle generation between two full ones (Python's default: 10)


def settle() -> None:
    """What start-up built (content and its index, the ORM, python-telegram-bot...) lives as long as the
    process: move it out of the garbage collector's way, or every full collection rescans it all and
    stalls the event loop (measured: ~100 ms pauses under load, see docs/benchmarks.md). Once per
    process, after start (tests that start many apps in one process do not call it).

    Then full collections are made ten times rarer (GC_FULL_AFTER young collections of the middle
    generation, Python's default 10). After the freeze the collector counts only what came since, so each
    wave of objects that outlive a few milliseconds (a thousand chat pages connecting, answers awaiting
    the database) set off another full pass over every open connection's objects: 20-100 ms each, nine in
    a 5,000-question web run, which made its p99 31 ms where p90 was 10 ms (bench_web; 11 ms p99 and
    0.35 ms less CPU per question with one full pass). Cyclic garbage waits longer to be freed; the young
    generations are collected as often as ever."""
    gc.collect()
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, GC_FULL_AFTER)


PRUNE_EVERY = 3600.0
SHUTDOWN_FLUSH = 30.0  # seconds the question log may take to reach the database when stopping


async def _prune_processed(store: Store) -> None:
    """Forget the platforms' update / message ids older than DEDUP_WINDOW (every channel's dedup)."""
    while True:
        try:
            removed = await store.dedup.prune(DEDUP_WINDOW)
            if removed:
                log.info("pruned %d processed update ids", removed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be away for a while: try again next time
            log.warning("pruning processed updates failed: %s", exc)
        await asyncio.sleep(PRUNE_EVERY)


async def stop(app: App) -> None:
    """Stop receiving, finish in-flight updates and sends, then close everything."""
    for task in (app.pruner, app.watcher):
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    for adapter in app.channels.values():
        try:
            await adapter.stop()
        except Exception:
            log.exception("stopping a channel failed")
    await app.conversation.drain()
    await app.scheduler.stop()
    for adapter in app.channels.values():
        await adapter.close()
    if app.runner is not None:
        await app.runner.cleanup()
    # Question logs queued for their group commit; not into a database file that is not ours any more.
    unwritten = await app.store.flush(give_up_after=1.0 if app.fatal else SHUTDOWN_FLUSH)
    if unwritten:
        log.error("shutting down with %d question(s) not logged: the database stayed unavailable", unwritten)
    await app.store.close()
    await app.store.engine.dispose()
    log.info("stopped cleanly")


async def serve(settings: Settings) -> None:
    """`chonnghe serve`: run until SIGTERM or SIGINT; SIGHUP reloads the content."""
    app = await build_app(settings)
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop_event.set)
    loop.add_signal_handler(signal.SIGINT, stop_event.set)
    reloads: set[asyncio.Task] = set()

    def _on_sighup() -> None:
        task = loop.create_task(_reload(app), name="content-reload")
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, _on_sighup)
    await start(app)
    settle()
    try:
        waits = [asyncio.ensure_future(stop_event.wait()), asyncio.ensure_future(app.fatal_event.wait())]
        _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        log.info("shutting down")
    finally:
        await stop(app)
    if app.fatal:
        raise Fatal(app.fatal)


async def _reload(app: App) -> None:
    """SIGHUP: load the content again off the event loop (a refit takes seconds of CPU); the bot answers
    from the previous content until the new one is ready."""
    try:
        await asyncio.to_thread(app.content.reload)
    except ContentError:
        pass  # already logged with the full report; the previous content stays
