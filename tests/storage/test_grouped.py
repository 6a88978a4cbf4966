"""Store.grouped: concurrent small writes share one transaction; one that fails fails alone."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from bot.storage.models import KeyValue
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


async def test_concurrent_writes_share_a_transaction_and_a_bad_one_fails_alone(store):
    K = KeyValue.__table__
    now = store.clock.now()

    def put(key: str):
        async def op(conn):
            await conn.execute(sa.insert(K).values(key=key, value="v", updated_at=now))
            return key
        return op

    async def bad(conn):
        await conn.execute(sa.insert(K).values(key="k1", value="again", updated_at=now))  # duplicate key

    results = await asyncio.gather(*(store.grouped(put(f"k{i}")) for i in range(20)), store.grouped(bad),
                                   return_exceptions=True)
    assert results[:20] == [f"k{i}" for i in range(20)]
    assert isinstance(results[20], sa.exc.IntegrityError)
    async with store.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(K))).scalar_one() == 20
