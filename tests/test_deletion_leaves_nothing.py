"""/xoadulieu leaves nothing that names the person, on all three channels: after a conversation (a role, a
subscription, a question, a refused staff command) and the deletion, every table of the schema (listed
from the metadata, so a table added later is checked too) is read and no value holds the person's
platform id or their old user id. Audit rows keep the action, not the person."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from bot.outbound import NullLimiter
from bot.storage.models import StaffAudit
from tests.channels.test_telegram_polling import TgUser
from tests.channels.test_telegram_polling import make_settings as tg_settings
from tests.channels.test_zalo_bot import make_settings as zb_settings
from tests.channels.test_zalo_oa import hook, oa_settings
from tests.conftest import BACKENDS
from tests.fakes import eventually, running_app
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import FakeZaloOA

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


async def _leftovers(app, platform_id: str, user_id: int) -> list[str]:
    """Every (table.column = value) still naming the person."""
    found = []
    await app.store.flush()
    async with app.store.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            user_columns = {c.name for c in table.columns
                            if any(fk.column.table.name == "users" for fk in c.foreign_keys)
                            or (table.name == "users" and c.name == "id")}
            for row in (await conn.execute(sa.select(table))).mappings():
                for column, value in row.items():
                    if isinstance(value, str) and platform_id in value:
                        found.append(f"{table.name}.{column} = {value!r}")
                    elif column in user_columns and value == user_id:
                        found.append(f"{table.name}.{column} = {value!r}")
    return found


async def _user_id(app, channel: str, platform_id: str) -> int:
    async with app.store.engine.connect() as conn:
        return (await conn.execute(sa.text("SELECT id FROM users WHERE channel = :c AND platform_id = :p"),
                                   {"c": channel, "p": platform_id})).scalar_one()


async def _audit_kept(app) -> None:
    async with app.store.engine.connect() as conn:
        rows = (await conn.execute(sa.select(StaffAudit.__table__))).mappings().all()
    assert [(r["command"], r["allowed"], r["platform_id"]) for r in rows] == [("/thongke", False, "deleted")]


async def _settled(app) -> None:
    await eventually(lambda: app.conversation.in_flight == 0, what="conversation idle")


async def test_telegram_deletion_leaves_nothing(db_url):
    person = 987654321
    async with FakeTelegram() as fake, running_app(tg_settings(db_url, fake), limiter=NullLimiter()) as app:
        an = TgUser(fake, person, "Lệ Quyên")
        await an.say("/start", expect=2)
        await an.tap("THPT")
        await an.tap("Từ 16")
        await an.say("/dangky tuyen_sinh")
        await an.say("học phí học nghề bao nhiêu")
        await an.say("/thongke")
        user_id = await _user_id(app, "telegram", str(person))
        await an.say("/xoadulieu")
        (done,) = await an.tap("Xóa hết")
        assert "Đã xóa" in done.text
        await _settled(app)
        assert await _leftovers(app, str(person), user_id) == []
        await _audit_kept(app)


async def test_zalo_oa_deletion_leaves_nothing(db_url):
    person = "8436000000009876543"
    async with FakeZaloOA() as fake, running_app(oa_settings(db_url, fake), limiter=NullLimiter()) as app:
        async def say(text: str, expect: int = 1):
            before = len(fake.messages_to(person))
            assert (await fake.post_webhook(hook(app), fake.event_text(person, text)))[0] == 200
            return await fake.wait_messages(person, expect, after=before)

        await fake.post_webhook(hook(app), fake.event_follow(person))
        await fake.wait_messages(person, 2)
        await say("/dangky tuyen_sinh")
        await say("học phí học nghề bao nhiêu")
        await say("/thongke")
        user_id = await _user_id(app, "zalo_oa", person)
        (shown,) = await say("/xoadulieu")
        (done,) = await say(shown.payload_of("Xóa hết"))
        assert "Đã xóa" in done.text
        await _settled(app)
        assert await _leftovers(app, person, user_id) == []
        await _audit_kept(app)


async def test_zalo_bot_deletion_leaves_nothing(db_url):
    person = "5c0ffee5c0ffee77"
    async with FakeZaloBot(max_poll=0.3) as fake, running_app(zb_settings(db_url, fake),
                                                               limiter=NullLimiter()) as app:
        async def say(text: str, expect: int = 1):
            before = len(fake.messages_to(person))
            fake.push_text(person, text)
            return await fake.wait_messages(person, expect, after=before)

        await say("/start", expect=2)
        await say("/dangky tuyen_sinh")
        await say("học phí học nghề bao nhiêu")
        await say("/thongke")
        user_id = await _user_id(app, "zalo_bot", person)
        (shown,) = await say("/xoadulieu")
        number = re.search(r"(\d+)\. \S* ?Xóa hết", shown.text).group(1)
        (done,) = await say(number)
        assert "Đã xóa" in done.text
        await _settled(app)
        await eventually(lambda: not app.channels["zalo_bot"]._side, what="intake idle")
        assert await _leftovers(app, person, user_id) == []
        await _audit_kept(app)
