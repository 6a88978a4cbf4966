"""The one place an Incoming finds its handler: commands first, then button payloads, then the staff chat's
replies, then the person's current flow, then the answer engine. Staff-only routes are guarded here."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from bot.types import Incoming, Reply
from handlers import handoff, start
from handlers.callbacks import BadPayload
from handlers.common import fold, menu_reply
from handlers.router import Ctx, Route, Router
from handlers.services import Services

log = logging.getLogger(__name__)

HandleFn = Callable[[Incoming], Awaitable[list[Reply]]]

# "dangky tuyen_sinh" typed without the slash (Zalo users are told they may): a known command word
# followed by at most two ASCII words. Anything else with diacritics ("Huy muốn hỏi...") is a question.
_BARE_ARGS = re.compile(r"^[a-z0-9_]+$")
# "Bắt đầu" (start) typed as words, as people do on every channel (and on Zalo, where nobody types slashes).
START_WORDS = frozenset({"bat dau", "batdau"})


def command_of(incoming: Incoming, known: dict[str, Route]) -> tuple[str, list[str]] | None:
    """The command and its arguments: a /command, "bắt đầu", or a known command word typed without "/"."""
    parsed = incoming.command
    if parsed is not None:
        return parsed
    if fold(incoming.text) in START_WORDS:
        return "start", []
    words = incoming.text.strip().split()
    if not words or len(words) > 3:
        return None
    head = words[0].lower()
    if head in known and all(_BARE_ARGS.match(w.lower()) for w in words[1:]):
        return head, words[1:]
    return None


class Responder:
    """Turns one Incoming into the replies for its chat (what the conversation calls)."""

    def __init__(self, services: Services, router: Router):
        self.services = services
        self.router = router
        if router.fallback is None:
            raise ValueError("no fallback handler")

    async def __call__(self, incoming: Incoming) -> list[Reply]:
        """The replies to `incoming`, from the first route that claims it (see the module docstring)."""
        svc = self.services
        if incoming.event == "unfollow":
            await svc.store.users.mark_inactive(incoming.user, "unfollowed")
            return []
        user, state = await svc.store.users.enter(incoming.user, incoming.display_name)
        ctx = Ctx(incoming, user, state, svc)
        if incoming.event == "follow":
            return await start.welcome(ctx)

        command = command_of(incoming, self.router.commands)
        if command is not None:
            name, args = command
            route = self.router.commands.get(name)
            if route is None:
                return [menu_reply(ctx.t, ctx.t("unknown_command", name=name[:32]))]
            ctx.args = args
            return await self._run(ctx, route, f"/{name}")

        if incoming.payload is not None:
            prefix = incoming.payload.partition(":")[0]
            button = self.router.buttons.get(prefix)
            try:
                if button is None:
                    raise BadPayload("unknown prefix")
                pressed = button.codec.unpack(incoming.payload)
            except BadPayload as exc:  # never offered: forged, or from an older version of the bot
                log.info("stale or unknown button %r from %s (%s)", incoming.payload[:64], incoming.user, exc)
                return [menu_reply(ctx.t, ctx.t("stale_button"))]
            if button.staff and not svc.is_staff(incoming.user):
                return await handoff.refuse(ctx, f"button {prefix}")
            return await button.handler(ctx, pressed)

        if svc.in_staff_chat(incoming):
            # Counsellors talk among themselves here; the bot only relays replies to its case messages.
            return await handoff.relay(ctx) if incoming.reply_to else []
        if incoming.chat_id and incoming.chat_id != incoming.user.user_id:
            return []  # some other group: answer commands and buttons only, never the chatter

        if state.flow is not None:
            flow = self.router.flows.get(state.flow)
            step = flow.steps.get(state.step or "") if flow is not None else None
            if step is not None and flow is not None and not (flow.staff and not svc.is_staff(incoming.user)):
                return await step(ctx)
            log.info("leaving flow %r step %r of user %s (unknown, or not allowed)",
                     state.flow, state.step, user.id)
            await svc.store.users.clear_state(user.id)
            ctx.state = type(state)()
        assert self.router.fallback is not None
        return await self.router.fallback(ctx)

    async def _run(self, ctx: Ctx, route: Route, what: str) -> list[Reply]:
        if route.staff and not self.services.is_staff(ctx.incoming.user):
            return await handoff.refuse(ctx, what)
        return await route.handler(ctx)
