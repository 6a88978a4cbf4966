"""Topic subscriptions: /dangky [chu_de], /huy [chu_de|tatca], /chude. Topics and labels come from
content/topics.yaml; a topic may be typed as its id, its label, with or without diacritics. Someone under 16
subscribes only after saying a parent agreed. Every change is recorded with time and channel (Store)."""

from __future__ import annotations

from bot.content.texts import STUDENT_ROLES
from bot.types import Button, Reply
from handlers.buttons import ParentConsent, PickAge, Subscribe, Unsubscribe
from handlers.common import find_topic, menu_row
from handlers.router import Ctx, Router
from handlers.steps import ONBOARDING, OnboardData

router = Router()


def age_buttons(ctx: Ctx) -> tuple[tuple[Button, ...], ...]:
    """The age question's buttons: under 16 / 16 or older."""
    return ((Button(ctx.t.button("under_16"), payload=PickAge("u16").pack()),
             Button(ctx.t.button("over_16"), payload=PickAge("16").pack())),)


def _label(ctx: Ctx, topic_id: str) -> str:
    topic = ctx.base.topics.get(topic_id)
    return topic.label if topic else topic_id


def _topic_list(ctx: Ctx) -> str:
    return "\n".join(f"• {tid}: {t.label}" for tid, t in ctx.base.topics.items())


async def choose(ctx: Ctx, head: str | None = None) -> list[Reply]:
    """Buttons for every topic, ✅ on those already subscribed."""
    t = ctx.t
    mine = set(await ctx.store.subscriptions.topics(ctx.profile.id))
    buttons = [(Button(("✅ " if tid in mine else "") + topic.label, payload=Subscribe(tid).pack()),)
               for tid, topic in ctx.base.topics.items()]
    if len(ctx.base.topics) > 1:
        buttons.append((Button(t.button("all_topics"), payload=Subscribe("*").pack()),))
    buttons.append(menu_row(t))
    text = t("topics_choose") if head is None else head + "\n\n" + t("topics_choose")
    return [Reply(text, tuple(buttons))]


@router.command("dangky")
async def subscribe_command(ctx: Ctx) -> list[Reply]:
    """/dangky [topic] typed: subscribes to the topic, or shows the topic buttons (with a note if unknown)."""
    if not ctx.args:
        return await choose(ctx)
    wanted = " ".join(ctx.args)
    topic = find_topic(ctx.base, wanted)
    if topic is None:
        return await choose(ctx, ctx.t("unknown_topic", text=wanted[:40], topics=_topic_list(ctx)))
    return await subscribe(ctx, topic)


@router.button(Subscribe)
async def subscribe_pressed(ctx: Ctx, pressed: Subscribe) -> list[Reply]:
    """"Đăng ký nhận tin" or a topic pressed: the topic buttons, or that topic (or all) subscribed."""
    if pressed.topic is None:
        return await choose(ctx)
    topic = pressed.topic
    if topic != "*" and topic not in ctx.base.topics:
        return await choose(ctx, ctx.t("stale_button"))
    return await subscribe(ctx, topic)


async def subscribe(ctx: Ctx, topic: str, parent_ok: bool = False) -> list[Reply]:
    """Subscribe to `topic` ("*": all), asking a student's age or an under-16's parental consent first."""
    t = ctx.t
    user = ctx.profile
    if user.role in STUDENT_ROLES and user.under_16 is None:
        # A student who skipped the age question: ask it now, then carry on with this subscription.
        await ONBOARDING.goto(ctx, "age", OnboardData(role=user.role, topic=topic))
        return [Reply(t("age_before_subscribe"), age_buttons(ctx))]
    if user.under_16 and user.consent != "parent_confirmed" and not parent_ok:
        return [Reply(t("parent_needed"),
                      ((Button(t.button("parent_yes"), payload=ParentConsent(topic).pack()),
                        Button(t.button("parent_later"), payload=ParentConsent().pack())),))]
    notice = ""
    if user.consent == "none":
        # Subscribing means we keep their chat id to write later: say so once.
        await ctx.store.users.update(user.id, consent="accepted")
        notice = "\n" + t("storage_notice")
    topics = list(ctx.base.topics) if topic == "*" else [topic]
    added = [tid for tid in topics if await ctx.store.subscriptions.add(user.id, tid, ctx.ref.channel)]
    if topic == "*":
        return [Reply(t("subscribed_all") + notice)]
    if not added:
        return [Reply(t("already_subscribed", topic=_label(ctx, topic)) + notice)]
    return [Reply(t("subscribed", topic=_label(ctx, topic), topic_id=topic) + notice)]


@router.button(ParentConsent)
async def parent_answer(ctx: Ctx, pressed: ParentConsent) -> list[Reply]:
    """The under-16 question: "Cha mẹ đã đồng ý" (with the topic) or "Để sau" (none)."""
    t = ctx.t
    if pressed.topic is None:
        return [Reply(t("parent_later"), (menu_row(t),))]
    topic = pressed.topic
    if topic != "*" and topic not in ctx.base.topics:
        return await choose(ctx, t("stale_button"))
    await ctx.store.users.update(ctx.profile.id, consent="parent_confirmed")
    ctx.profile.consent = "parent_confirmed"
    return await subscribe(ctx, topic, parent_ok=True)


@router.command("huy")
async def unsubscribe_command(ctx: Ctx) -> list[Reply]:
    """/huy [topic|tatca] typed: cancels that subscription, or shows a button per subscribed topic."""
    t = ctx.t
    if not ctx.args:
        return await _unsubscribe_choices(ctx)
    wanted = " ".join(ctx.args)
    topic = find_topic(ctx.base, wanted)
    if topic is None:
        mine = await ctx.store.subscriptions.topics(ctx.profile.id)
        if held := next((m for m in mine if m == wanted.strip().lower()), None):
            topic = held  # a topic removed from content that someone still holds
        else:
            return [Reply(t("unknown_topic", text=wanted[:40], topics=_topic_list(ctx))
                          + "\n\n" + t("cancel_all_hint"))]
    return await unsubscribe(ctx, topic)


async def _unsubscribe_choices(ctx: Ctx) -> list[Reply]:
    t = ctx.t
    mine = await ctx.store.subscriptions.topics(ctx.profile.id)
    if not mine:
        return [Reply(t("nothing_to_cancel"), (menu_row(t),))]
    buttons = [(Button("❌ " + _label(ctx, tid), payload=Unsubscribe(tid).pack()),) for tid in mine]
    if len(mine) > 1:
        buttons.append((Button(t.button("cancel_all"), payload=Unsubscribe("*").pack()),))
    return [Reply(t("unsubscribe_choose"), tuple(buttons))]


@router.button(Unsubscribe)
async def unsubscribe_pressed(ctx: Ctx, pressed: Unsubscribe) -> list[Reply]:
    """"❌ <topic>" or "Hủy tất cả" pressed: that subscription cancelled; no topic: the choices again."""
    if pressed.topic is None:
        return await _unsubscribe_choices(ctx)
    return await unsubscribe(ctx, pressed.topic)


async def unsubscribe(ctx: Ctx, topic: str) -> list[Reply]:
    """Cancel the subscription to `topic` ("*": all) and say which ones ended."""
    t = ctx.t
    left = await ctx.store.subscriptions.remove(ctx.profile.id, None if topic == "*" else topic,
                                                ctx.ref.channel)
    if topic == "*":
        if not left:
            return [Reply(t("nothing_to_cancel"))]
        return [Reply(t("unsubscribed_all", topics=", ".join(_label(ctx, x) for x in left)))]
    if not left:
        return [Reply(t("not_subscribed", topic=_label(ctx, topic)))]
    return [Reply(t("unsubscribed", topics=_label(ctx, topic)))]


@router.command("chude")
async def my_topics(ctx: Ctx) -> list[Reply]:
    """/chude typed: the topics the person receives news on, with subscribe/unsubscribe buttons."""
    t = ctx.t
    mine = await ctx.store.subscriptions.topics(ctx.profile.id)
    if not mine:
        return [Reply(t("my_topics_none"), ((Button(t.button("subscribe"), payload=Subscribe().pack()),),))]
    lines = "\n".join(f"• {_label(ctx, tid)} ({tid})" for tid in mine)
    return [Reply(t("my_topics", topics=lines),
                  ((Button(t.button("subscribe"), payload=Subscribe().pack()),),
                   (Button(t.button("unsubscribe"), payload=Unsubscribe().pack()),)))]
