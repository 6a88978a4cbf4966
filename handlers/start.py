"""Onboarding and navigation: /start (welcome, storage notice, "Bạn là ai?", age for students), /vaitro,
the main menu, /trogiup and /huybo.

Flow ONBOARDING (handlers.steps): step "role" (waiting for a role), step "age" (a student's age bracket).
Buttons work at any time (a role button pressed days later still sets the role); typed text that is not an
answer leaves the flow and is treated as a question, so nobody is stuck in onboarding.
"""

from __future__ import annotations

import logging
import re

from bot.content.texts import ROLES, STUDENT_ROLES
from bot.types import Button, Reply
from handlers import faq, handoff, schools, subscribe, trades
from handlers.buttons import Menu, PickAge, PickRole
from handlers.common import fold, menu_buttons, menu_reply, rows
from handlers.router import Ctx, Router
from handlers.steps import FLOWS, HANDOFF, ONBOARDING, OnboardData
from handlers.subscribe import age_buttons

log = logging.getLogger(__name__)

router = Router()

router.flow(ONBOARDING)


def role_buttons() -> tuple[tuple[Button, ...], ...]:
    """One button per role, two a row."""
    return rows([Button(label, payload=PickRole(rid).pack()) for rid, label in ROLES.items()], per_row=2)


@router.command("start")
async def start(ctx: Ctx) -> list[Reply]:
    """First contact: welcome + notice + role question. Returning user with a role: welcome back + menu."""
    t = ctx.t
    if ctx.profile.role in ROLES and ctx.profile.consent != "none":
        await ONBOARDING.end(ctx)
        return [Reply(t("welcome_back", role=ROLES[ctx.profile.role]) + "\n" + t("menu"),
                      (*menu_buttons(t), (Button(t.button("change_role"), payload=PickRole().pack()),)))]
    await ONBOARDING.begin(ctx, "role")
    if ctx.profile.consent == "none":
        # Shown once with the welcome; the person goes on only after reading it.
        await ctx.store.users.update(ctx.profile.id, consent="accepted")
    return [Reply(t("welcome") + "\n\n" + t("storage_notice")), Reply(t("who_are_you"), role_buttons())]


welcome = start  # a Zalo OA "follow" event is greeted like /start


@router.command("vaitro")
async def change_role(ctx: Ctx) -> list[Reply]:
    """Ask the role again."""
    await ONBOARDING.begin(ctx, "role")
    return [Reply(ctx.t("change_role"), role_buttons())]


@router.button(PickRole)
async def role_pressed(ctx: Ctx, pressed: PickRole) -> list[Reply]:
    """A role button (works at any time, also days later)."""
    if pressed.role is None:
        return await change_role(ctx)
    return await _set_role(ctx, pressed.role)


async def _set_role(ctx: Ctx, role: str) -> list[Reply]:
    t = ctx.t
    if role not in ROLES:
        return [Reply(t("stale_button")), Reply(t("who_are_you"), role_buttons())]
    values: dict[str, object] = {"role": role}
    if ctx.profile.consent == "none":
        values["consent"] = "accepted"
    if role not in STUDENT_ROLES:
        values["under_16"] = False
        if ctx.profile.consent == "parent_pending":
            values["consent"] = "accepted"
    await ctx.store.users.update(ctx.profile.id, **values)
    saved = t("role_saved", role=ROLES[role])
    if role in STUDENT_ROLES:
        await ONBOARDING.goto(ctx, "age", OnboardData(role=role))
        return [Reply(saved + "\n" + t("ask_age"), age_buttons(ctx))]
    await ONBOARDING.end(ctx)
    return [menu_reply(t, saved + "\n" + t("menu"))]


@router.button(PickAge)
async def age_pressed(ctx: Ctx, pressed: PickAge) -> list[Reply]:
    """An age bracket button: "u16" or "16"."""
    if pressed.bracket not in ("u16", "16"):
        return [Reply(ctx.t("stale_button"), age_buttons(ctx))]
    return await _set_age(ctx, pressed.bracket == "u16")


async def _set_age(ctx: Ctx, under_16: bool) -> list[Reply]:
    t = ctx.t
    values: dict[str, object] = {"under_16": under_16}
    if under_16 and ctx.profile.consent != "parent_confirmed":
        values["consent"] = "parent_pending"
    elif not under_16 and ctx.profile.consent in ("none", "parent_pending"):
        values["consent"] = "accepted"
    await ctx.store.users.update(ctx.profile.id, **values)
    topic = ONBOARDING.data(ctx).topic
    await ONBOARDING.end(ctx)
    if topic:  # asked on the way to a subscription: carry on with it
        for key, value in values.items():
            setattr(ctx.profile, key, value)
        return await subscribe.subscribe(ctx, topic)
    note = t("age_under_16") if under_16 else t("age_ok")
    return [menu_reply(t, note + "\n" + t("menu"))]


_AGE_RE = re.compile(r"\b(\d{1,2})\b")


@ONBOARDING.step("role")
async def role_typed(ctx: Ctx) -> list[Reply]:
    """A role typed as words ("phụ huynh"); anything else leaves onboarding and is a question."""
    folded = fold(ctx.text)
    for rid, label in ROLES.items():
        lf = fold(label)
        if folded and (folded == lf or folded == fold(rid) or (len(folded) >= 6 and folded in lf)):
            return await _set_role(ctx, rid)
    await ONBOARDING.end(ctx)
    return await faq.answer_question(ctx)


@ONBOARDING.step("age")
async def age_typed(ctx: Ctx) -> list[Reply]:
    """An age typed ("15", "dưới 16"); anything else leaves onboarding and is a question."""
    folded = fold(ctx.text)
    if "duoi 16" in folded or "chua du 16" in folded:
        return await _set_age(ctx, True)
    if "tren 16" in folded or "tu 16" in folded:
        return await _set_age(ctx, False)
    match = _AGE_RE.search(folded)
    if match and 6 <= int(match.group(1)) <= 99 and len(folded) <= 12:
        return await _set_age(ctx, int(match.group(1)) < 16)
    await ONBOARDING.end(ctx)
    return await faq.answer_question(ctx)


@router.command("menu")
async def menu(ctx: Ctx) -> list[Reply]:
    """/menu typed: the main menu."""
    return [menu_reply(ctx.t)]


@router.button(Menu)
async def menu_pressed(ctx: Ctx, pressed: Menu) -> list[Reply]:
    """The menu, or one of its items."""
    item = pressed.item or ""
    if item == "faq":
        return faq.intro(ctx)
    if item == "nghe":
        return trades.groups(ctx)
    if item == "truong":
        return schools.provinces(ctx)
    if item == "tin":
        return await subscribe.choose(ctx)
    if item == "tv":
        return await handoff.begin(ctx)
    return [menu_reply(ctx.t)]


@router.command("trogiup", "help")
async def help_(ctx: Ctx) -> list[Reply]:
    """/trogiup or /help typed: the commands and topic ids (staff also get theirs), with the menu."""
    t = ctx.t
    topics = ", ".join(ctx.base.topics) or "—"
    text = t("help", topics=topics)
    if ctx.is_staff:
        text += t("help_staff")
    return [Reply(text, menu_buttons(t))]


@router.command("huybo")
async def cancel(ctx: Ctx) -> list[Reply]:
    """Leave any multi-step flow; an open counsellor case is closed and the staff told."""
    t = ctx.t
    if HANDOFF.active(ctx) or await ctx.store.cases.open_for(ctx.profile.id) is not None:
        closed = await handoff.close_by_user(ctx)
        if closed:
            return [menu_reply(t, t("handoff_closed_by_user"))]
    if ctx.state.flow is None:
        return [menu_reply(t, t("nothing_running"))]
    flow = next((f for f in FLOWS if f.name == ctx.state.flow), None)
    if flow is not None and flow.on_cancel is not None:  # the flow says what leaving it means
        return await flow.on_cancel(ctx)
    await ctx.store.users.clear_state(ctx.profile.id)
    return [menu_reply(t, t("cancelled"))]
