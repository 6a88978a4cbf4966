"""The async engine (aiosqlite or asyncpg) and schema migrations applied on start."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.request import pathname2url

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Arbitrary constant: the PostgreSQL advisory lock that serialises migrations of concurrent starts.
MIGRATION_LOCK_ID = 0x63686E67


# SQLite error texts that mean the file cannot be written right now (see _reopen_after_fault).
_FAULTS = ("readonly database", "read-only", "disk i/o error", "unable to open database file",
           "database disk image is malformed")


def is_sqlite(url: str) -> bool:
    """Whether a database URL is SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; for SQLite, creates the file's folder and turns on WAL and foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # No pool reset on return: every transaction here ends in a commit or a rollback (SQLAlchemy
        # closes an unfinished one itself), and the reset's extra ROLLBACK is one more trip to
        # aiosqlite's thread per transaction, a sizeable share of a small write's cost.
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_reset_on_return=None)
        opened = {"once": False}
        path = Path(parsed.database).resolve() if parsed.database and parsed.database != ":memory:" else None

        @event.listens_for(engine.sync_engine, "do_connect")
        def _existing_file_only(_dialect, _record, cargs, cparams):
            # Once the database has been opened, a new connection must find the same file: were it
            # deleted meanwhile, SQLite would create an empty one and the service would answer from it
            # ("no such table"). mode=rw makes that connection fail instead (bot.health notices the file).
            if opened["once"] and path is not None and cargs and not cparams.get("uri"):
                cargs[0] = f"file:{pathname2url(str(path))}?mode=rw"
                cparams["uri"] = True

        @event.listens_for(engine.sync_engine, "handle_error")
        def _reopen_after_fault(context):
            # A connection opened while the file could not be written (made read-only or immutable) stays
            # read-only for its whole life, and one that hit an I/O error may stay broken: count these
            # errors as a lost connection, so the pool opens fresh ones and writes recover once the fault
            # is over.
            text = str(context.original_exception).lower()
            if any(sign in text for sign in _FAULTS):
                context.is_disconnect = True

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no branch - runs per connection
            opened["once"] = True
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic's configuration, pointed at bot/migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(sync_conn) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_conn
    if sync_conn.dialect.name == "postgresql":
        sync_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; never drops data (migrations are additive)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    log.info("database schema is up to date")
