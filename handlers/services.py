"""The services handlers may use, built once by the composition root and injected into every call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.types import Incoming, Reply, UserRef

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.config import Settings
    from bot.content.holder import ContentHolder
    from bot.storage.repo import Store


class Messenger(Protocol):
    async def send(self, to: UserRef, reply: Reply) -> str | None:
        """Send a reply to someone other than the current sender (staff chat, relayed answer)."""


@dataclass
class Services:
    settings: Settings
    store: Store
    content: ContentHolder
    clock: Clock
    messenger: Messenger
    broadcasts: Any = None  # scheduler.service.BroadcastService once the scheduler is wired
    # Callables returning alert lines for staff (e.g. a Zalo channel paused on a dead token).
    alert_sources: list[Callable[[], list[str]]] = field(default_factory=list)

    def is_staff(self, ref: UserRef) -> bool:
        """Staff are the Telegram user ids in CHONNGHE_STAFF_TELEGRAM_IDS."""
        if ref.channel != "telegram":
            return False
        try:
            return int(ref.user_id) in self.settings.staff_telegram_ids
        except ValueError:
            return False

    @property
    def staff_chat(self) -> UserRef | None:
        chat = self.settings.staff_chat_id
        return UserRef("telegram", chat) if chat else None

    def in_staff_chat(self, incoming: Incoming) -> bool:
        """True for a message said in the staff chat (CHONNGHE_STAFF_CHAT_ID), where counsellors reply to cases."""
        chat = self.staff_chat
        return (chat is not None and incoming.user.channel == chat.channel
                and (incoming.chat_id or incoming.user.user_id) == chat.user_id)

    def alerts(self) -> list[str]:
        return [line for source in self.alert_sources for line in source()]
