"""Handler tests run the whole conversation logic with no channel: Incoming in, Replies out."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.types import Incoming, Reply, UserRef
from handlers import build_handler
from handlers.services import Services
from tests.fakes import FIXTURE_CONTENT, FakeHolder, RecordingMessenger

STAFF_ID = "42"
STAFF_CHAT = "-100500"


class Person:
    """Someone chatting: `say` text, `press` a payload or a button by (part of) its label."""

    def __init__(self, handle, user_id: str, name: str = "Nguyễn An", channel: str = "telegram",
                 chat_id: str | None = None):
        self.handle = handle
        self.ref = UserRef(channel, user_id)
        self.name = name
        self.chat_id = chat_id or user_id
        self.last: list[Reply] = []

    async def _send(self, **kw) -> list[Reply]:
        kw.setdefault("chat_id", self.chat_id)
        self.last = await self.handle(Incoming(self.ref, display_name=self.name, **kw))
        return self.last

    async def say(self, text: str, **kw) -> list[Reply]:
        return await self._send(text=text, **kw)

    async def press(self, payload: str) -> list[Reply]:
        return await self._send(payload=payload)

    def button(self, label_part: str) -> str:
        for reply in self.last:
            for b in reply.flat_buttons:
                if label_part.lower() in b.label.lower() and b.payload:
                    return b.payload
        raise AssertionError(
            f"no button {label_part!r} in {[b.label for r in self.last for b in r.flat_buttons]}"
        )

    async def tap(self, label_part: str) -> list[Reply]:
        return await self.press(self.button(label_part))

    @property
    def text(self) -> str:
        return "\n".join(r.text for r in self.last)


@pytest.fixture
def holder() -> FakeHolder:
    return FakeHolder(FIXTURE_CONTENT)


@pytest.fixture
def messenger() -> RecordingMessenger:
    return RecordingMessenger()


@pytest.fixture
def hsettings(db_url) -> Settings:
    return Settings.load(database_url=db_url, content_dir=FIXTURE_CONTENT, http_port=0, _env_file=None,
                         staff_chat_id=STAFF_CHAT, staff_telegram_ids=STAFF_ID)


@pytest.fixture
async def services(hsettings, store, holder, clock, messenger):
    yield Services(settings=hsettings, store=store, content=holder, clock=clock, messenger=messenger)
    await store.flush()  # question logs queued by the last answers, before the database goes away


@pytest.fixture
def handle(services):
    return build_handler(services)


@pytest.fixture
def an(handle) -> Person:
    return Person(handle, "1001", "Nguyễn An")


@pytest.fixture
def staff(handle) -> Person:
    """A staff member writing in the staff chat."""
    return Person(handle, STAFF_ID, "Cô Lan", chat_id=STAFF_CHAT)
