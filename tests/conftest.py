"""Shared fixtures: database URLs (SQLite always, PostgreSQL when CHONNGHE_TEST_DATABASE_URL is set),
a migrated Store, settings pointing at temporary folders."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.clock import FakeClock
from bot.config import Settings
from bot.storage.db import create_engine, migrate
from bot.storage.repo import Store

ROOT = Path(__file__).resolve().parent.parent
CONTENT_DIR = ROOT / "content"
PG_URL = os.environ.get("CHONNGHE_TEST_DATABASE_URL")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG_URL, reason="CHONNGHE_TEST_DATABASE_URL not set (CI sets it; see .ci/run)"))]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """Tests never read the developer's CHONNGHE_* variables or .env file."""
    for key in list(os.environ):
        if key.startswith("CHONNGHE_") and key != "CHONNGHE_TEST_DATABASE_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)



@pytest.fixture
async def db_url(request, tmp_path) -> AsyncIterator[str]:
    """A fresh, empty database URL on the backend given by `request.param` (default sqlite)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/test.db"
        return
    # PostgreSQL: a private database per test, dropped afterwards.
    url = sa.engine.make_url(PG_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url.render_as_string(hide_password=False))
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))  # 10:00 in Hải Phòng


@pytest.fixture
async def store(db_url, clock) -> AsyncIterator[Store]:
    engine = create_engine(db_url)
    await migrate(engine)
    yield Store(engine, clock)
    await engine.dispose()


@pytest.fixture
def settings(tmp_path, db_url) -> Settings:
    return Settings.load(database_url=db_url, content_dir=CONTENT_DIR, http_port=0, _env_file=None)
