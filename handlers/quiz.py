"""The interest quiz (/tracnghiem, the menu's "🧭 Trắc nghiệm chọn nghề", the answer to "không biết nên học
nghề gì"): the items of content/quiz.yaml one per message with the choices as buttons and "⬅️ Câu trước";
scored per Holland (RIASEC) type; the result names the two or three strongest types with their scores and
plain explanations, then 3 to 5 trades whose RIASEC codes fit, each a button to its page.

Flow QUIZ (handlers.steps), step "q": the answers so far live in the flow's data (the database), so a
restart mid-quiz loses nothing. The finished result is kept (store.quiz) for "xem lại kết quả" (/ketqua);
/xoadulieu deletes it.
"""

from __future__ import annotations

import json
import logging

from bot.content.models import RIASEC, ContentBase, Quiz, QuizItem, Trade
from bot.types import Button, Reply
from handlers import faq
from handlers.buttons import Counsellor, LeadStart, QuizAnswer, QuizBack, QuizResult, QuizStart
from handlers.buttons import Trade as TradeButton
from handlers.common import clip, fold, menu_reply, menu_row, ref, vn_date
from handlers.router import Ctx, Router
from handlers.steps import QUIZ, QuizData

log = logging.getLogger(__name__)

router = Router()
router.flow(QUIZ)

MIN_TRADES, MAX_TRADES = 3, 5
# How much a trade's first, second and third RIASEC code count when matching the person's strongest types.
POSITION_WEIGHTS = (1.0, 0.6, 0.35)
# Types outside the ones shown still count a little, so trades are ranked sensibly past the top matches.
OTHER_TYPE_WEIGHT = 0.2
BACK_WORDS = {"cau truoc", "quay lai", "lui lai", "tro lai", "back"}
RESULT_WORDS = {"xem lai ket qua", "ket qua trac nghiem", "xem ket qua", "xem lai ket qua trac nghiem"}


# --- scoring (pure) --------------------------------------------------------------------------------------

def score(quiz: Quiz, answers: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Points and maximum per type, {"R": (5, 6), ...}, from the answers (item id -> choice id). Items or
    choices the quiz no longer has are ignored."""
    best = max(c.score for c in quiz.choices)
    low = min(c.score for c in quiz.choices)
    result = {}
    for code in RIASEC:
        items = quiz.items_of(code)
        points = 0
        for item in items:
            choice = quiz.choice(answers.get(item.id, ""))
            if choice is not None:
                points += choice.score - low
        result[code] = (points, len(items) * (best - low))
    return result


def strongest(scores: dict[str, tuple[int, int]]) -> list[str]:
    """The two or three strongest types, strongest first (ties in RIASEC order); a third is shown when it is
    within one point of the second, as short forms agree on scores more than on one top type."""
    ranked = sorted(scores, key=lambda code: (-_share(scores[code]), RIASEC.index(code)))
    top = ranked[:2]
    if len(ranked) > 2 and scores[ranked[1]][0] - scores[ranked[2]][0] <= 1:
        top.append(ranked[2])
    return top


def is_flat(scores: dict[str, tuple[int, int]]) -> bool:
    """True when no type stands out (the strongest and the weakest are within one point)."""
    points = [p for p, _m in scores.values()]
    return max(points) - min(points) <= 1


def _share(pair: tuple[int, int]) -> float:
    points, maximum = pair
    return points / maximum if maximum else 0.0


def fit(trade: Trade, scores: dict[str, tuple[int, int]], top: list[str]) -> float:
    """How well a trade's RIASEC codes match the person: each code weighted by its position in the trade's
    codes and by the person's score on it (fully for the strongest types, a little for the others)."""
    total = 0.0
    for position, code in enumerate(trade.riasec[:len(POSITION_WEIGHTS)]):
        if code not in scores:
            continue
        weight = 1.0 if code in top else OTHER_TYPE_WEIGHT
        total += POSITION_WEIGHTS[position] * weight * _share(scores[code])
    return total


def suggest(base: ContentBase, scores: dict[str, tuple[int, int]], top: list[str]) -> list[Trade]:
    """3 to 5 trades that fit best: those within half of the best fit, at least 3, at most 5."""
    ranked = sorted((t for t in base.trades.values() if t.riasec),
                    key=lambda t: (-fit(t, scores, top), t.title))
    if not ranked:
        return []
    best = fit(ranked[0], scores, top)
    chosen = [t for t in ranked if best and fit(t, scores, top) >= best / 2][:MAX_TRADES]
    if len(chosen) < MIN_TRADES:
        chosen = ranked[:MIN_TRADES]
    return chosen


# --- the flow --------------------------------------------------------------------------------------------

def _current(quiz: Quiz, data: QuizData) -> tuple[int, QuizItem] | None:
    """(index, item) of the first unanswered item, or None when every item is answered."""
    for index, item in enumerate(quiz.items):
        if item.id not in data.answers:
            return index, item
    return None


def _question(ctx: Ctx, quiz: Quiz, index: int, item: QuizItem, head: str = "",
              extra: tuple[tuple[Button, ...], ...] = ()) -> Reply:
    t = ctx.t
    text = t("quiz_question", n=index + 1, total=len(quiz.items), text=item.text)
    choices = tuple(Button(c.label, payload=QuizAnswer(item.id, c.id).pack()) for c in quiz.choices)
    rows: list[tuple[Button, ...]] = [choices]
    if index > 0:
        rows.append((Button(t.button("quiz_back"), payload=QuizBack().pack()),))
    rows.extend(extra)
    return Reply((head + "\n\n" if head else "") + text, tuple(rows))


@router.command("tracnghiem")
async def start_command(ctx: Ctx) -> list[Reply]:
    """/tracnghiem: start the quiz, or carry on where the person is."""
    return await begin(ctx)


@router.button(QuizStart)
async def start_pressed(ctx: Ctx, pressed: QuizStart) -> list[Reply]:
    """The quiz button (menu, FAQ answer, result): start, carry on, or start over (`fresh`)."""
    return await begin(ctx, fresh=pressed.fresh)


async def begin(ctx: Ctx, fresh: bool = False) -> list[Reply]:
    """Start the quiz with its first item (or show the current item of the quiz in progress)."""
    t = ctx.t
    quiz = ctx.base.quiz
    if quiz is None:
        return [menu_reply(t, t("quiz_none"))]
    if QUIZ.active(ctx) and not fresh:
        data = QUIZ.data(ctx)
        current = _current(quiz, data)
        if current is not None and data.answers:
            restart = ((Button(t.button("quiz_restart"), payload=QuizStart(True).pack()),),)
            return [_question(ctx, quiz, *current, head=t("quiz_resume"), extra=restart)]
    run = await ctx.store.quiz.start(ctx.profile.id, ctx.ref.channel)
    await QUIZ.begin(ctx, "q", QuizData(run=run))
    index, item = 0, quiz.items[0]
    return [_question(ctx, quiz, index, item, head=t("quiz_intro", count=len(quiz.items)))]


@router.button(QuizAnswer)
async def answer_pressed(ctx: Ctx, pressed: QuizAnswer) -> list[Reply]:
    """A choice pressed under a question."""
    quiz = ctx.base.quiz
    if quiz is None:
        return [menu_reply(ctx.t, ctx.t("quiz_none"))]
    if not QUIZ.active(ctx):
        return [menu_reply(ctx.t, ctx.t("quiz_not_running"))]
    return await _answer(ctx, quiz, pressed.item, pressed.choice)


async def _answer(ctx: Ctx, quiz: Quiz, item_id: str, choice_id: str) -> list[Reply]:
    data = QUIZ.data(ctx)
    current = _current(quiz, data)
    if current is None:  # every item answered (content grew shorter meanwhile): show the result
        return await _finish(ctx, quiz, data)
    index, item = current
    if item.id != item_id or quiz.choice(choice_id) is None:
        # A button under an earlier question (or a stale one): ask the current question again.
        return [_question(ctx, quiz, index, item, head=ctx.t("quiz_stale"))]
    data = QuizData(run=data.run, answers={**data.answers, item.id: choice_id})
    following = _current(quiz, data)
    if following is None:
        return await _finish(ctx, quiz, data)
    await QUIZ.goto(ctx, "q", data)
    return [_question(ctx, quiz, *following)]


@router.button(QuizBack)
async def back_pressed(ctx: Ctx, _pressed: QuizBack) -> list[Reply]:
    """"⬅️ Câu trước": drop the last answer and ask that question again."""
    return await _back(ctx)


async def _back(ctx: Ctx) -> list[Reply]:
    t = ctx.t
    quiz = ctx.base.quiz
    if quiz is None:
        return [menu_reply(t, t("quiz_none"))]
    if not QUIZ.active(ctx):
        return [menu_reply(t, t("quiz_not_running"))]
    data = QUIZ.data(ctx)
    answers = dict(data.answers)
    head = ""
    if answers:
        answers.pop(next(reversed(answers)))
    else:
        head = t("quiz_first")
    data = QuizData(run=data.run, answers=answers)
    await QUIZ.goto(ctx, "q", data)
    current = _current(quiz, data)
    assert current is not None  # at least the item just un-answered
    return [_question(ctx, quiz, *current, head=head)]


@QUIZ.step("q")
async def typed(ctx: Ctx) -> list[Reply]:
    """A choice typed ("thích", "không chắc"), "câu trước"; anything else is answered as a question and the
    current item asked again (the quiz is kept)."""
    t = ctx.t
    quiz = ctx.base.quiz
    if quiz is None:
        await QUIZ.end(ctx)
        return await faq.answer_question(ctx)
    folded = fold(ctx.text)
    if folded in BACK_WORDS:
        return await _back(ctx)
    data = QUIZ.data(ctx)
    current = _current(quiz, data)
    if current is None:
        return await _finish(ctx, quiz, data)
    index, item = current
    for choice in quiz.choices:
        if folded in (fold(choice.label), fold(choice.id)):
            return await _answer(ctx, quiz, item.id, choice.id)
    choices = " / ".join(f"«{c.label}»" for c in quiz.choices)
    replies = await faq.answer_question(ctx) if len(folded) > 3 else []
    return [*replies, _question(ctx, quiz, index, item, head=t("quiz_not_answer", choices=choices))]


async def _finish(ctx: Ctx, quiz: Quiz, data: QuizData) -> list[Reply]:
    scores = score(quiz, data.answers)
    top = strongest(scores)
    await ctx.store.quiz.finish(data.run, ctx.profile.id, ctx.ref.channel, scores, "".join(top))
    await QUIZ.end(ctx)
    log.info("quiz finished by %s: %s", ctx.ref, "".join(top))
    return [result_reply(ctx, quiz, scores, top)]


def result_reply(ctx: Ctx, quiz: Quiz, scores: dict[str, tuple[int, int]], top: list[str],
                 when: str | None = None) -> Reply:
    """The result: the strongest types with scores and explanations, 3-5 trades with why, the caveat, and
    buttons to each trade, a counsellor, the registration and the quiz again."""
    t = ctx.t
    names = {qt.code: qt.name for qt in quiz.types}
    lines = [t("quiz_result_head")]
    if when:
        lines[0] += "\n" + t("quiz_result_when", date=when)
    for code in top:
        qtype = quiz.type(code)
        points, maximum = scores[code]
        lines.append(t("quiz_type_line", name=qtype.name, code=code, score=points, max=maximum,
                       explain=qtype.explain))
    if is_flat(scores):
        lines.append(t("quiz_flat"))
    trades = suggest(ctx.base, scores, top)
    buttons: list[tuple[Button, ...]] = []
    if trades:
        lines.append("")
        lines.append(t("quiz_trades_head"))
        for trade in trades:
            shared = [f"{names.get(c, c)} ({c})" for c in trade.riasec if c in top]
            why = t("quiz_why", types=", ".join(shared)) if shared else t("quiz_why_other")
            lines.append(t("quiz_trade_line", trade=trade.title, why=why))
            buttons.append((Button(clip(trade.title, 60), payload=TradeButton(ref(trade.id)).pack()),))
    lines.append("")
    lines.append(t("quiz_disclaimer"))
    lines.append(t("quiz_result_again"))
    buttons.append((Button(t.button("counsellor"), payload=Counsellor().pack()),
                    Button(t.button("lead"), payload=LeadStart().pack())))
    buttons.append((Button(t.button("quiz_again"), payload=QuizStart(True).pack()),))
    buttons.append(menu_row(t))
    return Reply("\n".join(lines), tuple(buttons))


@QUIZ.cancel
async def cancel(ctx: Ctx) -> list[Reply]:
    """/huybo in the quiz: leave it (the run stays counted as started)."""
    await QUIZ.end(ctx)
    return [menu_reply(ctx.t, ctx.t("quiz_cancelled"))]


@router.command("ketqua")
async def result_command(ctx: Ctx) -> list[Reply]:
    """/ketqua: the last result."""
    return await show_last(ctx)


@router.button(QuizResult)
async def result_pressed(ctx: Ctx, _pressed: QuizResult) -> list[Reply]:
    """"📊 Xem lại kết quả"."""
    return await show_last(ctx)


async def show_last(ctx: Ctx) -> list[Reply]:
    """The person's last finished result, recomputed from its stored scores against today's trades."""
    t = ctx.t
    quiz = ctx.base.quiz
    run = await ctx.store.quiz.latest(ctx.profile.id)
    if quiz is None or run is None or not run.scores:
        return [Reply(t("quiz_no_result"), ((Button(t.button("menu_quiz"), payload=QuizStart().pack()),),
                                            menu_row(t)))]
    try:
        raw = json.loads(run.scores)
        scores = {code: (int(raw[code][0]), int(raw[code][1])) for code in RIASEC}
    except (ValueError, KeyError, TypeError, IndexError):
        log.warning("quiz run %s has unreadable scores %r", run.id, run.scores)
        return [Reply(t("quiz_no_result"), ((Button(t.button("menu_quiz"), payload=QuizStart().pack()),),))]
    top = [c for c in (run.top or "") if c in RIASEC] or strongest(scores)
    when = vn_date((run.finished_at or run.started_at).astimezone(ctx.services.settings.zone))
    return [result_reply(ctx, quiz, scores, top, when=when)]


def wants_result(text: str) -> bool:
    """True when typed text asks for the last quiz result ("xem lại kết quả")."""
    return fold(text) in RESULT_WORDS
