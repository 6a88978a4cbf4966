"""The services handlers may use, built once by the composition root and injected into every call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.types import Channel, Incoming, UserRef

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.content.holder import ContentHolder
    from bot.ports import Messenger
    from bot.storage.repo import Store
    from scheduler.broadcasts import Broadcasts


def _no_alerts() -> list[str]:
    return []


@dataclass(frozen=True)
class Services:
    """Built once by the composition root (bot/app.py) or the terminal chat; every field is set there."""

    settings: Settings
    store: Store
    content: ContentHolder
    clock: Clock
    messenger: Messenger
    broadcasts: Broadcasts | None = None  # None where no scheduler runs (the terminal chat)
    # lines for staff, e.g. a Zalo channel paused on a dead token
    alerts: Callable[[], list[str]] = _no_alerts

    def is_staff(self, ref: UserRef) -> bool:
        """Staff are the Telegram user ids in CHONNGHE_STAFF_TELEGRAM_IDS."""
        if ref.channel != Channel.TELEGRAM:
            return False
        try:
            return int(ref.user_id) in self.settings.staff_telegram_ids
        except ValueError:
            return False

    @property
    def staff_chat(self) -> UserRef | None:
        """The counsellors' Telegram group (CHONNGHE_STAFF_CHAT_ID), if one is configured."""
        chat = self.settings.staff_chat_id
        return UserRef(Channel.TELEGRAM, chat) if chat else None

    def in_staff_chat(self, incoming: Incoming) -> bool:
        """True for a message said in the staff chat (CHONNGHE_STAFF_CHAT_ID), where counsellors reply to
        cases."""
        chat = self.staff_chat
        return (chat is not None and incoming.user.channel == chat.channel
                and (incoming.chat_id or incoming.user.user_id) == chat.user_id)
