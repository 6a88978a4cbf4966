"""What /healthz reports: the database (reachable, writable, last successful write, the SQLite file still the
one we opened), the dispatcher's backlog, the question log's unwritten backlog and each channel; and
whether the service can do its job (HTTP 503 when it cannot, so a supervisor or a load balancer can act).

The database is probed at most every PROBE_EVERY seconds however often /healthz is called (a load
balancer may ask every second): a SELECT 1, then a one-row write to the kv table (`health:probe`), each
within PROBE_TIMEOUT. "failing" (503): the database unreachable or not writable, or its file replaced or
deleted, or every configured channel paused. "degraded" (200): something staff should look at (a channel
paused or not receiving, questions waiting for the database) while answers still go out."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from bot.storage.repo import Store

log = logging.getLogger(__name__)

PROBE_EVERY = 5.0  # seconds between database probes
PROBE_TIMEOUT = 3.0  # seconds a probe step may take before it counts as failed
PROBE_KEY = "health:probe"


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


class FileIdentity:
    """The SQLite file we opened, by device and inode: a file deleted, or replaced by another (a restore
    copied over it, a new empty file created by a reconnect), is noticed instead of served from."""

    def __init__(self, path: Path):
        """Remember `path`'s current identity (call after the schema is migrated)."""
        self.path = path
        st = path.stat()
        self.identity = (st.st_dev, st.st_ino)

    def problem(self) -> str | None:
        """None while the file is the one we opened; else what happened to it."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was deleted"
        except OSError as exc:
            return f"the database file {self.path} cannot be read ({exc.strerror})"
        if (st.st_dev, st.st_ino) != self.identity:
            return f"the database file {self.path} was replaced by another file"
        return None


@dataclass
class DatabaseState:
    """The outcome of the last probe."""

    reachable: bool | None = None
    writable: bool | None = None
    error: str | None = None
    last_write: datetime | None = None
    probed_at: float | None = None  # monotonic
    file_problem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class DatabaseHealth:
    """Probes the database (throttled) and watches the SQLite file."""

    def __init__(self, store: Store, url: str):
        """`url`: the database URL (for the SQLite file)."""
        self.store = store
        path = sqlite_file(url)
        self.file = FileIdentity(path) if path is not None and path.exists() else None
        self.state = DatabaseState()
        self._probe: asyncio.Task | None = None

    def note_write(self) -> None:
        """A write went through (called by the probe; others may call it)."""
        self.state.last_write = self.store.clock.now()

    def file_problem(self) -> str | None:
        """What happened to the SQLite file, or None (also None on PostgreSQL)."""
        problem = self.file.problem() if self.file is not None else None
        self.state.file_problem = problem
        return problem

    async def check(self, force: bool = False) -> DatabaseState:
        """The state, probing again when the last probe is older than PROBE_EVERY (or `force`)."""
        if self.file_problem() is not None:
            self.state.reachable = self.state.writable = False
            self.state.error = self.state.file_problem
            return self.state
        fresh = self.state.probed_at is not None and time.monotonic() - self.state.probed_at < PROBE_EVERY
        if fresh and not force:
            return self.state
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._run_probe(), name="health-probe")
        await asyncio.shield(self._probe)
        return self.state

    async def _run_probe(self) -> None:
        state = self.state
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                async with self.store.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            state.reachable = True
        except Exception as exc:
            state.reachable = state.writable = False
            state.error = _describe(exc)
            state.probed_at = time.monotonic()
            return
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                await self.store.kv.set(PROBE_KEY, self.store.clock.now().isoformat())
            state.writable, state.error = True, None
            self.note_write()
        except Exception as exc:
            state.writable = False
            state.error = _describe(exc)
        state.probed_at = time.monotonic()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {PROBE_TIMEOUT:g} s"
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]


STALE_QUESTION_S = 5.0  # a queued question older than this means its writes are failing


async def report(
    *,
    database: DatabaseHealth,
    channels: dict[str, str],
    alerts: dict[str, list[str]],
    dispatcher: dict[str, Any],
    unwritten_questions: int,
    extra: dict[str, Any],
    stale_questions: int = 0,
) -> tuple[int, dict]:
    """(HTTP status, body) of /healthz."""
    db = await database.check()
    failing: list[str] = []
    degraded: list[str] = []
    if db.file_problem:
        failing.append(db.file_problem)
    elif not db.reachable:
        failing.append(f"database unreachable ({db.error})")
    elif not db.writable:
        failing.append(f"database not writable ({db.error})")
    configured = {name: status for name, status in channels.items() if not status.startswith("off")}
    if configured and all(status != "on" for status in configured.values()):
        failing.append("no channel can send")
    for name, status in configured.items():
        if status != "on":
            degraded.append(f"{name}: {status}")
    for name, lines in alerts.items():
        degraded.extend(f"{name}: {line}" for line in lines)
    if stale_questions:  # a question waits a few milliseconds for company as a rule; seconds is a fault
        degraded.append(f"{stale_questions} question(s) waiting to be written for over "
                        f"{STALE_QUESTION_S:.0f} s")
    status = "failing" if failing else "degraded" if degraded else "ok"
    body = {
        "status": status,
        "problems": failing + degraded,
        "database": {
            "reachable": db.reachable,
            "writable": db.writable,
            "last_write": db.last_write.isoformat() if db.last_write else None,
            "error": db.error,
            "unwritten_questions": unwritten_questions,
        },
        "dispatcher": dispatcher,
        "channels": channels,
        "channel_alerts": alerts,
        **extra,
    }
    return (503 if failing else 200), body
