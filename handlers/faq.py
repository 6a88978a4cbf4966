"""Questions and answers: free text goes to the answer engine; an answer comes with related entries and
"Hữu ích 👍 / Chưa đúng 👎"; no confident answer says so, offers suggestions and a counsellor. Every
question is logged (bad input too) for the content-gap report."""

from __future__ import annotations

import inspect
import logging

from bot.content.loader import Entry
from bot.types import Button, Reply
from handlers.buttons import Counsellor, Feedback, LeadStart, QuizStart, ShowEntry, Subscribe, TradeSchools
from handlers.common import clip, menu_reply, menu_row, ref, unref, vn_date
from handlers.router import Ctx, Router

log = logging.getLogger(__name__)

router = Router()

# The engine reads at most this much; a long paste is still logged in full (truncated by the store).
MAX_QUESTION = 500
RELATED_MAX = 3
SUGGEST_MAX = 3
SOURCE_MAX = 300


def intro(ctx: Ctx) -> list[Reply]:
    """The Q&A start: how to ask, with example questions."""
    t = ctx.t
    examples = "\n".join(f"• {e}" for e in t.examples)
    return [Reply(t("faq_intro", examples=examples), (menu_row(t),))]


async def _match(ctx: Ctx, text: str):
    result = ctx.services.content.engine.answer(text)
    if inspect.isawaitable(result):
        result = await result
    return result


def _log(ctx: Ctx, match, answered: bool, content_id: str | None = None) -> None:
    """Every question is logged (bad input too); the answer does not wait for the commit."""
    ctx.store.questions.log_later(ctx.profile.id, ctx.ref.channel, ctx.text, match.normalized or "",
                                  content_id, float(match.score or 0.0), answered)


@router.default
async def answer_question(ctx: Ctx) -> list[Reply]:
    """Free text: answer it, or say we have no confident answer and offer suggestions and a counsellor."""
    t = ctx.t
    text = ctx.text
    if not text.strip():
        return [Reply(t("no_text") if ctx.incoming.media or not text else t("empty_question"))]
    from handlers import quiz  # here, not at the top: the quiz answers stray text through this module

    if quiz.wants_result(text):
        return await quiz.show_last(ctx)
    match = await _match(ctx, text[:MAX_QUESTION])
    note = ("\n\n" + t("too_long")) if len(text) > MAX_QUESTION else ""
    kind = match.kind
    if kind == "empty":
        _log(ctx, match, False)
        return [Reply(t("empty_question"))]
    if kind in ("greeting", "thanks"):
        _log(ctx, match, True)
        return [menu_reply(t, t(kind))]
    entry = ctx.base.entries.get(match.id) if kind == "answer" and match.id else None
    if entry is not None:
        _log(ctx, match, True, entry.id)
        reply = answer_reply(ctx, entry, feedback=True)
        return [Reply(reply.text + note, reply.buttons)]
    _log(ctx, match, False)
    return [no_answer_reply(ctx, match, note)]


def no_answer_reply(ctx: Ctx, match, note: str = "") -> Reply:
    """No confident answer: say so, with suggested entries, the quiz if one asks for it, and a counsellor."""
    t = ctx.t
    entries = ctx.base.entries
    suggestions = [entries[sid] for sid, _score in (match.suggestions or ()) if sid in entries][:SUGGEST_MAX]
    lines = [t("no_answer")]
    if suggestions:
        lines.append(t("no_answer_suggest"))
    with_actions = next((e for e in suggestions if e.actions), None)
    if with_actions is not None and "quiz" in with_actions.actions:
        lines.append(t("no_answer_quiz"))
    lines.append(t("no_answer_counsellor"))
    buttons = [(Button(clip(e.title, 60), payload=ShowEntry(ref(e.id)).pack()),) for e in suggestions]
    if with_actions is not None:  # e.g. "không biết nên học nghề gì": the quiz, straight away
        buttons.append(action_buttons(ctx, with_actions))
    # "tv:q": the person's latest unanswered question goes to the counsellor.
    buttons.append((Button(t.button("counsellor"), payload=Counsellor("q").pack()),))
    buttons.append(menu_row(t))
    return Reply("\n".join(lines) + note, tuple(buttons))


def answer_reply(ctx: Ctx, entry: Entry, feedback: bool = False) -> Reply:
    """An entry's answer, its source (except for the bot's own help entries), related entries and feedback."""
    t = ctx.t
    text = entry.answer
    if not entry.id.startswith("bot."):
        text += "\n\n" + t("source", source=clip(entry.source, SOURCE_MAX), reviewed=vn_date(entry.reviewed))
    buttons: list[tuple[Button, ...]] = []
    if entry.actions:
        buttons.append(action_buttons(ctx, entry))
    if entry.kind == "trade":
        buttons.append((Button(t.button("schools_of_trade"), payload=TradeSchools(ref(entry.id)).pack()),
                        Button(t.button("subscribe"), payload=Subscribe().pack())))
        buttons.append((Button(t.button("lead"), payload=LeadStart("n", ref(entry.id)).pack()),))
    for rid in entry.related:
        if len(buttons) >= RELATED_MAX + 1:
            break
        related = ctx.base.entries.get(rid)
        if related is not None:
            buttons.append((Button("➡️ " + clip(related.title, 58),
                                   payload=ShowEntry(ref(related.id)).pack()),))
    if feedback:  # on the person's latest question answered with this entry (Store.set_feedback_latest)
        buttons.append((Button(t.button("helpful"), payload=Feedback(ref(entry.id), True).pack()),
                        Button(t.button("wrong"), payload=Feedback(ref(entry.id), False).pack())))
    return Reply(text, tuple(buttons))


def action_buttons(ctx: Ctx, entry: Entry) -> tuple[Button, ...]:
    """The buttons an entry's `actions` ask for (bot.content.models.ACTIONS)."""
    t = ctx.t
    found = {"quiz": Button(t.button("menu_quiz"), payload=QuizStart().pack()),
             "lead": Button(t.button("lead"), payload=LeadStart().pack())}
    return tuple(found[a] for a in entry.actions if a in found)


@router.button(ShowEntry)
async def show_entry(ctx: Ctx, pressed: ShowEntry) -> list[Reply]:
    """A related entry or a suggestion pressed."""
    entry_id = unref(pressed.entry, ctx.base.entries)
    if entry_id is None:
        return [menu_reply(ctx.t, ctx.t("entry_gone"))]
    return [answer_reply(ctx, ctx.base.entries[entry_id])]


@router.button(Feedback)
async def feedback(ctx: Ctx, pressed: Feedback) -> list[Reply]:
    """👍 or 👎 pressed under an answer: recorded on their latest question; 👎 also offers a counsellor."""
    t = ctx.t
    token, value = pressed.entry, pressed.helpful
    entry_id = unref(token, ctx.base.entries) or token
    recorded = await ctx.store.questions.set_feedback_latest(ctx.profile.id, entry_id, 1 if value else -1)
    if not recorded:
        log.info("feedback on %s by %s not recorded (no such question of theirs)", entry_id, ctx.ref)
    if value:
        return [Reply(t("feedback_up"))]
    return [Reply(t("feedback_down") + "\n" + t("feedback_down_offer"),
                  ((Button(t.button("counsellor"), payload=Counsellor("q").pack()),), menu_row(t)))]
