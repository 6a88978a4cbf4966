"""Handoff to a human counsellor: /tuvan (also the menu button and the no-answer path) posts the question
to the staff chat (CHONNGHE_STAFF_CHAT_ID) with who asked and their recent questions; a staff member's
reply to that message is relayed to the person.

Explicit state, flow HANDOFF (handlers.steps): step "ask" (waiting for the question), step "open" (a case
is open). While a case is open the bot does not answer over the staff: the person's messages are
forwarded to the case. The person closes it with /huybo (or the "Đã xong" button), staff with /dong.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.content.texts import ROLES, texts_for
from bot.types import Button, Reply, UserRef
from handlers import faq
from handlers.buttons import Counsellor, HandoffDone
from handlers.common import clip, menu_reply, menu_row
from handlers.router import Ctx, Router
from handlers.steps import HANDOFF, HandoffData

if TYPE_CHECKING:
    from handlers.services import Services

log = logging.getLogger(__name__)

router = Router()

router.flow(HANDOFF)
RECENT = 5
QUESTION_MAX = 1500
FOLLOWUP_MAX = 3000


def _who(user) -> str:
    name = user.display_name or "Không rõ tên"
    role = ROLES.get(user.role or "", "chưa chọn vai trò")
    return f"{name} · {role} · {user.channel}:{user.platform_id}"


def _when(ctx: Ctx) -> str:
    t = ctx.t
    local = ctx.services.clock.now().astimezone(ctx.services.settings.zone)
    if t.office.is_open(local):
        return t("handoff_when_open")
    return t("handoff_when_closed", hours=t.office.describe())


@router.command("tuvan")
async def tuvan(ctx: Ctx) -> list[Reply]:
    """/tuvan typed: with a question after it, sent to the counsellors at once; without, asked for."""
    question = ctx.text.strip().split(None, 1)[1] if ctx.args else ""
    if question:
        return await open_case(ctx, question)
    return await begin(ctx)


async def begin(ctx: Ctx) -> list[Reply]:
    """Ask for the question (or say a case is already open)."""
    t = ctx.t
    if ctx.services.staff_chat is None:
        return [menu_reply(t, t("handoff_unavailable"))]
    case = await ctx.store.cases.open_for(ctx.profile.id)
    if case is not None:
        await HANDOFF.goto(ctx, "open", HandoffData(case=case.id))
        return [Reply(t("handoff_already_open") + "\n" + t("handoff_open_note"))]
    await HANDOFF.begin(ctx, "ask")
    return [Reply(t("handoff_ask"))]


@router.button(Counsellor)
async def counsellor_pressed(ctx: Ctx, pressed: Counsellor) -> list[Reply]:
    """"Gặp tư vấn viên" under an unanswered question or a 👎 (about "q": the latest unanswered question,
    else the latest question), or in the menu (ask for the question)."""
    if pressed.about == "q":
        question = (await ctx.store.questions.latest(ctx.profile.id, answered=False)
                    or await ctx.store.questions.latest(ctx.profile.id))
        if question is not None:
            return await open_case(ctx, question.text)
    return await begin(ctx)


@router.button(HandoffDone)
async def done_pressed(ctx: Ctx, _pressed: HandoffDone) -> list[Reply]:
    """"Đã xong": the person closes their case."""
    t = ctx.t
    if await close_by_user(ctx):
        return [menu_reply(t, t("handoff_closed_by_user"))]
    return [menu_reply(t)]


@HANDOFF.step("ask")
async def question_typed(ctx: Ctx) -> list[Reply]:
    """The question for the counsellor."""
    if not ctx.text.strip():
        return [Reply(ctx.t("no_text"))]
    return await open_case(ctx, ctx.text)


@HANDOFF.step("open")
async def followup_typed(ctx: Ctx) -> list[Reply]:
    """While a case is open, what the person writes goes to it."""
    t = ctx.t
    case = await ctx.store.cases.open_for(ctx.profile.id)
    if case is None:  # closed meanwhile (by staff, or the staff chat was unreachable)
        await HANDOFF.end(ctx)
        return await faq.answer_question(ctx)
    if not ctx.text.strip():
        return [Reply(t("no_text"))]
    return await forward(ctx, case)


async def open_case(ctx: Ctx, question: str) -> list[Reply]:
    """Post `question` to the staff chat as a case card (or to the open case) and say when staff reply."""
    t = ctx.t
    staff = ctx.services.staff_chat
    if staff is None:
        await HANDOFF.end(ctx)
        return [menu_reply(t, t("handoff_unavailable"))]
    existing = await ctx.store.cases.open_for(ctx.profile.id)
    if existing is not None and existing.staff_message_id:
        await HANDOFF.goto(ctx, "open", HandoffData(case=existing.id))
        return await _forward_text(ctx, existing, question)
    case = existing or await ctx.store.cases.open(ctx.profile.id, question)
    recent = await ctx.store.questions.recent(ctx.profile.id, limit=RECENT)
    if recent:
        lines = "\n".join(f"• {clip(q.text, 200)} "
                          f"({'bot đã trả lời' if q.answered else 'bot chưa trả lời được'})"
                          for q in recent)
        context = t("staff_context", lines=lines)
    else:
        context = t("staff_no_context")
    card = Reply(t("staff_card", case=case.id, who=_who(ctx.profile), question=clip(question, QUESTION_MAX),
                   context=context))
    message_id = await ctx.services.messenger.send(staff, card)
    if message_id is None:
        log.warning("handoff case %s could not be posted to the staff chat", case.id)
        await ctx.store.cases.close(case.id)
        await HANDOFF.end(ctx)
        return [menu_reply(t, t("handoff_failed"))]
    await ctx.store.cases.set_message(case.id, staff.user_id, str(message_id))
    await HANDOFF.goto(ctx, "open", HandoffData(case=case.id))
    log.info("handoff case %s opened for %s", case.id, ctx.ref)
    return [Reply(t("handoff_sent", when=_when(ctx)) + "\n\n" + t("handoff_open_note"))]


async def forward(ctx: Ctx, case) -> list[Reply]:
    """Pass what the person just wrote on to their open case in the staff chat."""
    return await _forward_text(ctx, case, ctx.text)


async def _forward_text(ctx: Ctx, case, text: str) -> list[Reply]:
    t = ctx.t
    staff = ctx.services.staff_chat
    if staff is None:
        return [menu_reply(t, t("handoff_unavailable"))]
    name = ctx.profile.display_name or f"{ctx.profile.channel}:{ctx.profile.platform_id}"
    message_id = await ctx.services.messenger.send(
        staff, Reply(t("staff_followup", case=case.id, who=name, text=clip(text, FOLLOWUP_MAX))))
    if message_id is None:
        return [Reply(t("handoff_failed"))]
    await ctx.store.cases.link_message(case.id, staff.user_id, str(message_id))
    return [Reply(t("handoff_forwarded"),
                  ((Button(t.button("handoff_done"), payload=HandoffDone().pack()),),))]


async def close_by_user(ctx: Ctx) -> bool:
    """Close the person's open case (telling the staff chat); False when none was open."""
    case = await ctx.store.cases.open_for(ctx.profile.id)
    await HANDOFF.end(ctx)
    if case is None:
        return False
    await ctx.store.cases.close(case.id)
    await _tell_staff(ctx, ctx.t("staff_user_closed", case=case.id))
    return True


async def _tell_staff(ctx: Ctx, text: str) -> None:
    staff = ctx.services.staff_chat
    if staff is not None:
        await ctx.services.messenger.send(staff, Reply(text))


# --- in the staff chat ---------------------------------------------------------------------------


async def relay(ctx: Ctx) -> list[Reply]:
    """A message in the staff chat replying to one of the bot's case messages: send it to the person."""
    t = ctx.t
    chat_id = ctx.incoming.chat_id or ctx.ref.user_id
    case = await ctx.store.cases.for_message(chat_id, ctx.incoming.reply_to or "")
    person = await ctx.store.users.by_id(case.user_id) if case is not None and case.user_id else None
    if case is None or person is None:
        # Staff also reply to each other; speak up only when they replied to one of the bot's messages.
        return [Reply(t("staff_case_unknown"))] if ctx.incoming.reply_to_self else []
    if not ctx.text.strip():
        return [Reply(t("no_text"))]
    sent = await reply_to_case(ctx.services, case.id, ctx.text, by=f"{ctx.ref.channel}:{ctx.ref.user_id}")
    await ctx.store.audit.record(ctx.ref, f"relay #{case.id}", True)
    if not sent:
        return [Reply(t("staff_relay_failed", case=case.id))]
    note = "" if case.status == "open" else "\n" + t("staff_case_closed_note", case=case.id)
    return [Reply(t("staff_relayed", case=case.id) + note)]


# --- the counselling service (the staff chat above and the console, bot/console) -----------------


async def reply_to_case(services: Services, case_id: int, text: str, *, by: str) -> bool:
    """Send a counsellor's reply to the person on their own channel and mark the case answered by `by`;
    False when the case or the person is gone, or the send failed."""
    t = texts_for(services.content.base)
    case = await services.store.cases.get(case_id)
    person = await services.store.users.by_id(case.user_id) if case is not None and case.user_id else None
    if case is None or person is None or not text.strip():
        return False
    to = UserRef(person.channel, person.platform_id)
    buttons = (
        () if case.status != "open" else ((Button(t.button("handoff_done"), payload=HandoffDone().pack()),),)
    )
    sent = await services.messenger.send(to, Reply(t("handoff_reply", text=text.strip()), buttons))
    if sent is None:
        return False
    await services.store.cases.answered(case.id, by)
    return True


async def close_case(services: Services, case_id: int) -> bool:
    """Close an open case and tell the person (ending their handoff flow); False when it was not open."""
    t = texts_for(services.content.base)
    case = await services.store.cases.get(case_id)
    if case is None or case.status != "open":
        return False
    await services.store.cases.close(case.id)
    person = await services.store.users.by_id(case.user_id) if case.user_id else None
    if person is not None:
        state = await services.store.users.get_state(person.id)
        if state.flow == HANDOFF.name:
            await services.store.users.clear_state(person.id)
        await services.messenger.send(UserRef(person.channel, person.platform_id),
                                      Reply(t("handoff_closed_by_staff"), (menu_row(t),)))
    return True


async def tell_staff_chat(services: Services, case_id: int, text: str) -> None:
    """Post a note about a case to the staff chat (linked to the case, so replies to it reach the person)."""
    staff = services.staff_chat
    if staff is None:
        return
    message_id = await services.messenger.send(staff, Reply(text))
    if message_id is not None:
        await services.store.cases.link_message(case_id, staff.user_id, str(message_id))


@router.command("dong")
async def close_by_staff(ctx: Ctx) -> list[Reply]:
    """/dong <case> (or /dong as a reply to a case message): staff close a case; the person is told."""
    t = ctx.t
    if not (ctx.is_staff or ctx.services.in_staff_chat(ctx.incoming)):
        return await refuse(ctx, "/dong")
    case = None
    if ctx.args:
        try:
            case = await ctx.store.cases.get(int(ctx.args[0].lstrip("#")))
        except ValueError:
            return [Reply(t("staff_close_usage"))]
    elif ctx.incoming.reply_to:
        case = await ctx.store.cases.for_message(ctx.incoming.chat_id or ctx.ref.user_id,
                                                 ctx.incoming.reply_to)
    else:
        return [Reply(t("staff_close_usage"))]
    await ctx.store.audit.record(ctx.ref, "/dong", True)
    if case is None or not await close_case(ctx.services, case.id):
        number = ctx.args[0].lstrip("#") if ctx.args else (case.id if case else "?")
        return [Reply(t("staff_close_missing", case=number))]
    log.info("handoff case %s closed by staff %s", case.id, ctx.ref)
    return [Reply(t("staff_closed", case=case.id))]


async def refuse(ctx: Ctx, command: str) -> list[Reply]:
    """A staff-only command from someone else: polite refusal, recorded and logged."""
    log.warning("refused staff command %s from %s", command, ctx.ref)
    await ctx.store.audit.record(ctx.ref, command, False)
    return [Reply(ctx.t("staff_only"))]

