"""The migrations create exactly the schema the models describe, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import bot.storage.models  # noqa: F401
from bot.storage.db import create_engine, migrate
from tests.conftest import BACKENDS


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_migrated_schema_matches_models(db_url):
    engine = create_engine(db_url)
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              SQLModel.metadata))
    finally:
        await engine.dispose()
    assert diff == [], "models changed without a migration: run python -m bot.storage.revision"
