"""Conversation logic, one module per area. Handlers see only neutral types and injected services.

`build_handler(services)` is what the composition root (bot/app.py) and the terminal chat use: an async
function from Incoming to the list of Replies to send back to the chat it came from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.types import Incoming, Reply

if TYPE_CHECKING:
    from handlers.router import Router
    from handlers.services import Services


def build_router() -> Router:
    """Every handler module's router, wired in one place (a duplicate route fails here, at start-up)."""
    from handlers import (
        broadcasts,
        faq,
        handoff,
        leads,
        privacy,
        quiz,
        schools,
        staff,
        start,
        subscribe,
        trades,
    )
    from handlers.router import Router

    router = Router()
    for module in (start, faq, trades, schools, subscribe, handoff, privacy, staff, broadcasts, quiz, leads):
        router.include(module.router)
    return router


def build_handler(services: Services) -> Callable[[Incoming], Awaitable[list[Reply]]]:
    """The conversation as one async function: an Incoming in, the Replies for its chat out."""
    from handlers.dispatch import Responder

    return Responder(services, build_router())
