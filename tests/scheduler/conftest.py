"""Fixtures for the scheduler tests: a content folder with topics and the real campaign calendar,
a fake channel adapter, subscribers in bulk, and the broadcast service."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.config import Settings
from bot.content import load_content
from bot.outbound import Outbound
from bot.ports import SendError
from bot.storage.models import Subscription, User
from bot.storage.repo import Store
from bot.types import Reply
from scheduler.broadcasts import Broadcasts
from tests.conftest import CONTENT_DIR

TOPICS_YAML = """\
topics:
  - id: tuyen_sinh
    label: Tuyển sinh
  - id: su_kien
    label: Sự kiện
  - id: chinh_sach
    label: Chính sách
  - id: viec_lam
    label: Việc làm
"""


@pytest.fixture
def content_dir(tmp_path) -> Path:
    """A content folder: four topics and the repository's campaigns.yaml."""
    root = tmp_path / "content"
    root.mkdir()
    (root / "topics.yaml").write_text(TOPICS_YAML, encoding="utf-8")
    shutil.copy(CONTENT_DIR / "campaigns.yaml", root / "campaigns.yaml")
    return root


@pytest.fixture
def settings(db_url, content_dir) -> Settings:
    return Settings.load(database_url=db_url, content_dir=content_dir, http_port=0, _env_file=None,
                         broadcast_concurrency=4, staff_chat_id="-100500")


@pytest.fixture
def topics(content_dir) -> dict[str, str]:
    base = load_content(content_dir)
    return {t.id: t.label for t in base.topics.values()}


@pytest.fixture
def broadcasts(store: Store, settings: Settings, clock, topics) -> Broadcasts:
    return Broadcasts(store, settings, clock, topics=lambda: topics)


class FakeAdapter:
    """A channel that records sends. `script[chat_id]` is a list of exceptions raised one per attempt
    before the chat succeeds; `delay` makes each send take that long."""

    def __init__(self, name: str = "telegram", delay: float = 0.0):
        self.name = name
        self.delay = delay
        self.sent: list[tuple[str, Reply]] = []
        self.attempts: dict[str, int] = {}
        self.script: dict[str, list[SendError]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.hook: Callable[[str], None] | None = None

    def routes(self):
        return []

    async def start(self):
        return None

    async def stop(self):
        return None

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        self.attempts[chat_id] = self.attempts.get(chat_id, 0) + 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            else:
                await asyncio.sleep(0)
            if self.hook is not None:
                self.hook(chat_id)
            errors = self.script.get(chat_id)
            if errors:
                raise errors.pop(0)
            self.sent.append((chat_id, reply))
            return str(len(self.sent))
        finally:
            self.in_flight -= 1

    def receivers(self) -> list[str]:
        return [chat for chat, _ in self.sent]


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
def outbound(store, adapter) -> Outbound:
    out = Outbound(store)
    out.register(adapter)
    return out


async def add_subscribers(store: Store, count: int, topic: str = "tuyen_sinh", channel: str = "telegram",
                          start: int = 1, role: str | None = None) -> list[int]:
    """Create `count` active users subscribed to `topic`; platform ids start..start+count-1."""
    now = store.clock.now()
    async with store.session() as s:
        users = [
            User(channel=channel, platform_id=str(start + i), role=role, created_at=now, last_seen_at=now)
            for i in range(count)
        ]
        s.add_all(users)
        await s.flush()
        s.add_all([Subscription(user_id=u.id, topic=topic, channel=channel, created_at=now, updated_at=now)
                   for u in users])
        return [u.id for u in users]


async def deliveries(store: Store, broadcast_id: int) -> list[tuple[str, str, int]]:
    """(platform_id, status, attempts) of every delivery row of a broadcast."""
    from bot.storage.models import Delivery

    async with store.session() as s:
        rows = await s.execute(sa.select(Delivery.platform_id, Delivery.status, Delivery.attempts)
                               .where(Delivery.broadcast_id == broadcast_id).order_by(Delivery.id))
        return [tuple(r) for r in rows.all()]


async def eventually(check: Callable[[], object], limit: float = 10.0, step: float = 0.01) -> None:
    """Poll a condition the background dispatcher makes true (real time: the work is real I/O)."""
    async with asyncio.timeout(limit):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(step)
