"""Registering for counselling (/dangkytuvan; "📝 Đăng ký tư vấn" on trade pages, school pages and quiz
results, pre-filling the trade or the school): full name, mobile phone (stored canonically, ten digits with
the leading 0), who is registering, year of birth or grade, the trade and optionally the school, when to
call; a summary with "Sửa" buttons and the consent text; on confirmation the registration is written in one
transaction and the staff chat (and a school's own chat, `staff_chat_id`) is told.

Flow LEAD (handlers.steps). The form asks for the first field still missing (`next_step`), so correcting a
field from the summary clears it and the form comes back to the summary. An under-16 student registering
for themselves meets the parental-agreement step before their name and number are kept: at the start when
the profile already says so, else right after the year of birth or grade tells it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import datetime

from bot.content.texts import CHANNEL_LABELS
from bot.types import Button, Channel, Reply, UserRef
from handlers.buttons import LeadConfirm, LeadEdit, LeadParent, LeadPick, LeadStart
from handlers.common import clip, fold, menu_reply, ref, rows, unref
from handlers.router import Ctx, Router
from handlers.steps import LEAD, LeadData

log = logging.getLogger(__name__)

router = Router()
router.flow(LEAD)

NAME_MAX = 80
NAME_MIN = 2
NAME_WORDS_MAX = 7
TRADE_TEXT_MAX = 80
SCHOOLS_SHOWN = 20
OLDEST_AGE, YOUNGEST_AGE = 70, 10  # years: who registers to learn a trade (or whose parent does)
GRADES = range(6, 13)
WHO = {"student": "Học sinh", "parent": "Phụ huynh"}
TIMES = {"morning": "Buổi sáng", "afternoon": "Buổi chiều", "evening": "Buổi tối", "any": "Lúc nào cũng được"}
TIME_WORDS = {"morning": {"sang", "buoi sang"}, "afternoon": {"chieu", "buoi chieu"},
              "evening": {"toi", "buoi toi"},
              "any": {"luc nao cung duoc", "bat ky", "bat ky luc nao", "gio nao cung duoc", "luc nao",
                      "sao cung duoc"}}
WHO_WORDS = {"student": {"hoc sinh", "hs", "em", "toi", "minh", "ban than", "cho minh", "nguoi hoc"},
             "parent": {"phu huynh", "ph", "bo", "me", "cha", "bo me", "cha me", "cho con"}}
YES = {"xac nhan", "xac nhan gui", "dong y", "co", "ok", "gui", "dung", "dung roi", "yes", "gui di"}
NO_WORDS = {"khong", "khong biet", "chua biet", "chua", "bo qua", "khong can", "khong chon", "chua chon"}
EDITABLE = ("name", "phone", "who", "birth", "trade", "school", "time")


# --- validation (pure) -----------------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"^[(\s]*\+?[\d\s.\-()]+$")  # one leading "+", maybe in brackets: "(+84) 912..."
MOBILE_PREFIXES = ("03", "05", "07", "08", "09")


def normalise_phone(text: str) -> str | None:
    """A Vietnamese mobile number in its canonical form, ten digits with the leading 0, or None:
    "0912 345 678", "+84912345678", "84-912-345-678", "(+84) 912.345.678" -> "0912345678"."""
    raw = (text or "").strip()
    if not raw or not _PHONE_CHARS.match(raw):
        return None
    digits = re.sub(r"\D", "", raw)
    if digits.startswith("0084"):
        digits = digits[4:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = digits[2:]  # "+84 912...", also "+84 0912..." as people write it
    elif "+" in raw:
        return None  # another country's number
    if len(digits) == 9:
        digits = "0" + digits
    if len(digits) == 10 and digits.startswith(MOBILE_PREFIXES):
        return digits
    return None


def show_phone(phone: str) -> str:
    """0912345678 -> "0912 345 678"."""
    return f"{phone[:4]} {phone[4:7]} {phone[7:]}" if len(phone) == 10 else phone


_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$", re.UNICODE)


def clean_name(text: str) -> str | None:
    """A full name as typed, tidied (single spaces), or None when it cannot be one (digits, symbols, too
    short, too long, too many words)."""
    name = " ".join((text or "").split())
    if not NAME_MIN <= len(name) <= NAME_MAX or len(name.split()) > NAME_WORDS_MAX:
        return None
    if not _NAME_CHARS.match(name):
        return None
    return name


_YEAR = re.compile(r"\b(\d{4})\b")
_GRADE = re.compile(r"\blop\s*(\d{1,2})\b")
_BARE = re.compile(r"^(\d{1,2})$")


def parse_birth(text: str, this_year: int) -> tuple[str, int | None]:
    """("year", 2010), ("grade", 9), or a problem: ("future", year), ("absurd", year), ("bad", None)."""
    folded = fold(text)
    year = _YEAR.search(folded)
    if year:
        value = int(year.group(1))
        if value > this_year:
            return "future", value
        if not this_year - OLDEST_AGE <= value <= this_year - YOUNGEST_AGE:
            return "absurd", value
        return "year", value
    grade = _GRADE.search(folded) or _BARE.match(folded)
    if grade and int(grade.group(1)) in GRADES:
        return "grade", int(grade.group(1))
    return "bad", None


def maybe_under_16(data: LeadData, this_year: int) -> bool:
    """True when the student could be under 16: born this_year - 16 or later (turning 16 this year may still
    be 15 today), or in grade 10 or below."""
    if data.birth_year is not None:
        return this_year - data.birth_year <= 16
    if data.grade is not None:
        return data.grade <= 10
    return False


# --- the form ------------------------------------------------------------------------------------------

def _this_year(ctx: Ctx) -> int:
    return ctx.services.clock.now().astimezone(ctx.services.settings.zone).year


def _needs_parent(ctx: Ctx, data: LeadData) -> bool:
    if data.parent_ok or ctx.profile.consent == "parent_confirmed" or data.who == "parent":
        return False
    if ctx.profile.under_16 and data.who in (None, "student"):
        return True
    return data.who == "student" and maybe_under_16(data, _this_year(ctx))


def next_step(ctx: Ctx, data: LeadData) -> str:
    """The step that asks for the first field still missing ("confirm" when none is)."""
    if ctx.profile.under_16 and _needs_parent(ctx, data) and data.name is None:
        return "parent"
    if data.name is None:
        return "name"
    if data.phone is None:
        return "phone"
    if data.who is None:
        return "who"
    if data.birth_year is None and data.grade is None:
        return "birth"
    if _needs_parent(ctx, data):
        return "parent"
    if not data.trade_asked:
        return "trade"
    if not data.school_asked and _school_choices(ctx, data):
        return "school"
    if data.time is None:
        return "time"
    return "confirm"


async def advance(ctx: Ctx, data: LeadData, head: str = "") -> list[Reply]:
    """Store the data and ask for what is missing next (or show the summary)."""
    step = next_step(ctx, data)
    await LEAD.goto(ctx, step, data)
    reply = _ask(ctx, step, data)
    if head:
        reply = Reply(head + "\n\n" + reply.text, reply.buttons)
    return [reply]


def _ask(ctx: Ctx, step: str, data: LeadData, problem: str = "") -> Reply:
    t = ctx.t
    buttons: tuple[tuple[Button, ...], ...] = ()
    if step == "parent":
        text = t("lead_parent_needed")
        buttons = ((Button(t.button("parent_yes"), payload=LeadParent(True).pack()),
                    Button(t.button("parent_later"), payload=LeadParent(False).pack())),)
    elif step == "name":
        text = t("lead_ask_name")
    elif step == "phone":
        text = t("lead_ask_phone")
    elif step == "who":
        text = t("lead_ask_who")
        buttons = ((Button(t.button("lead_student"), payload=LeadPick("who", "student").pack()),),
                   (Button(t.button("lead_parent"), payload=LeadPick("who", "parent").pack()),))
    elif step == "birth":
        text = t("lead_ask_birth_parent" if data.who == "parent" else "lead_ask_birth_student")
    elif step == "trade":
        text = t("lead_ask_trade")
        buttons = _trade_buttons(ctx, data)
    elif step == "school":
        text = t("lead_ask_school")
        choices = [Button(clip(s.name, 60), payload=LeadPick("school", ref(s.id)).pack())
                   for s in _school_choices(ctx, data)]
        buttons = (*rows(choices),
                   (Button(t.button("lead_no_school"), payload=LeadPick("school", "-").pack()),))
    elif step == "time":
        text = t("lead_ask_time")
        buttons = rows([Button(label, payload=LeadPick("time", key).pack()) for key, label in TIMES.items()],
                       per_row=2)
    else:
        return _summary(ctx, data)
    return Reply((problem + "\n\n" if problem else "") + text, buttons)


def _trade_buttons(ctx: Ctx, data: LeadData) -> tuple[tuple[Button, ...], ...]:
    base = ctx.base
    school = base.schools.get(data.school or "")
    trades = [base.trades[tid] for tid in school.trades if tid in base.trades] if school else []
    if not trades:
        trades = sorted(base.trades.values(), key=lambda tr: tr.title)
    buttons = [(Button(clip(tr.title, 60), payload=LeadPick("trade", ref(tr.id)).pack()),) for tr in trades]
    buttons.append((Button(ctx.t.button("lead_no_trade"), payload=LeadPick("trade", "-").pack()),))
    return tuple(buttons)


def _school_choices(ctx: Ctx, data: LeadData) -> list:
    """The schools offered at the school step: those that teach the chosen trade."""
    if not data.trade:
        return []
    return sorted(ctx.base.schools_for(data.trade), key=lambda s: s.name)[:SCHOOLS_SHOWN]


def _lines(ctx: Ctx, data: LeadData) -> list[str]:
    base = ctx.base
    whose = " của con" if data.who == "parent" else ""
    birth = (f"Năm sinh{whose}: {data.birth_year}" if data.birth_year is not None
             else f"Lớp{whose}: {data.grade}" if data.grade is not None else f"Năm sinh hoặc lớp{whose}: —")
    trade = base.trades.get(data.trade or "")
    school = base.schools.get(data.school or "")
    return [
        f"• Họ tên: {data.name or '—'}",
        f"• Số điện thoại: {show_phone(data.phone) if data.phone else '—'}",
        f"• Người đăng ký: {WHO.get(data.who or '', '—')}",
        f"• {birth}",
        f"• Nghề quan tâm: {trade.title if trade else data.trade_text or 'chưa chọn (cần tư vấn)'}",
        f"• Trường quan tâm: {school.name if school else 'chưa chọn'}",
        f"• Gọi vào: {TIMES.get(data.time or '', '—').lower()}",
    ]


def _school_chat(ctx: Ctx, data: LeadData) -> tuple[str, str] | None:
    """(school name, its staff chat id) when the chosen school has its own staff chat."""
    school = ctx.base.schools.get(data.school or "")
    if school is not None and school.staff_chat_id:
        return school.name, school.staff_chat_id
    return None


def _summary(ctx: Ctx, data: LeadData) -> Reply:
    t = ctx.t
    own = _school_chat(ctx, data)
    sees = t("lead_sees_school", school=own[0]) if own else t("lead_sees_city")
    consent = t("lead_consent", who_sees=sees, months=ctx.services.settings.lead_retention)
    text = t("lead_summary", lines="\n".join(_lines(ctx, data)), consent=consent)
    edits = [Button(t.button(f"lead_edit_{name}"), payload=LeadEdit(name).pack()) for name in EDITABLE]
    return Reply(text, ((Button(t.button("lead_confirm"), payload=LeadConfirm("y").pack()),),
                        *rows(edits, per_row=2),
                        (Button(t.button("lead_drop"), payload=LeadConfirm("n").pack()),)))


# --- entry points --------------------------------------------------------------------------------------

@router.command("dangkytuvan")
async def start_command(ctx: Ctx) -> list[Reply]:
    """/dangkytuvan: a fresh form."""
    return await begin(ctx, LeadData())


@router.button(LeadStart)
async def start_pressed(ctx: Ctx, pressed: LeadStart) -> list[Reply]:
    """"📝 Đăng ký tư vấn" on a trade page ("n"), a school page ("t") or a quiz result (nothing)."""
    base = ctx.base
    data = LeadData()
    if pressed.kind == "n" and pressed.ident:
        trade = unref(pressed.ident, base.trades)
        if trade is not None:
            data = LeadData(trade=trade, trade_asked=True)
    elif pressed.kind == "t" and pressed.ident:
        school = unref(pressed.ident, base.schools)
        if school is not None:
            data = LeadData(school=school, school_asked=True)
    return await begin(ctx, data)


async def begin(ctx: Ctx, data: LeadData) -> list[Reply]:
    """Start the form (pre-filled with a trade or a school)."""
    t = ctx.t
    head = t("lead_intro")
    what = [ctx.base.trades[data.trade].title] if data.trade in ctx.base.trades else []
    if data.school in ctx.base.schools:
        what.append(ctx.base.schools[data.school].name)
    if what:
        head += "\n" + t("lead_prefilled", what=", ".join(what))
    return await advance(ctx, data, head=head)


# --- buttons -------------------------------------------------------------------------------------------

@router.button(LeadParent)
async def parent_pressed(ctx: Ctx, pressed: LeadParent) -> list[Reply]:
    """The parental-agreement question: agreed (go on) or not yet (nothing kept)."""
    t = ctx.t
    if not LEAD.active(ctx):
        return [menu_reply(t, t("lead_not_running"))]
    if not pressed.agreed:
        await LEAD.end(ctx)
        return [menu_reply(t, t("lead_parent_later"))]
    await ctx.store.users.update(ctx.profile.id, consent="parent_confirmed")
    ctx.profile.consent = "parent_confirmed"
    data = LEAD.data(ctx)
    return await advance(ctx, _with(data, parent_ok=True))


@router.button(LeadPick)
async def pick_pressed(ctx: Ctx, pressed: LeadPick) -> list[Reply]:
    """A choice button of the form (who, trade, school, time)."""
    t = ctx.t
    if not LEAD.active(ctx):
        return [menu_reply(t, t("lead_not_running"))]
    data = LEAD.data(ctx)
    value = pressed.value
    if pressed.field == "who" and value in WHO:
        return await advance(ctx, _with(data, who=value))
    if pressed.field == "time" and value in TIMES:
        return await advance(ctx, _with(data, time=value))
    if pressed.field == "trade":
        trade = None if value == "-" else unref(value, ctx.base.trades)
        if value == "-" or trade is not None:
            return await advance(ctx, _with(data, trade=trade, trade_text=None, trade_asked=True,
                                            school=data.school if data.school_asked else None))
    if pressed.field == "school":
        school = None if value == "-" else unref(value, ctx.base.schools)
        if value == "-" or school is not None:
            return await advance(ctx, _with(data, school=school, school_asked=True))
    step = next_step(ctx, data)
    return [_ask(ctx, step, data, problem=t("stale_button"))]


@router.button(LeadEdit)
async def edit_pressed(ctx: Ctx, pressed: LeadEdit) -> list[Reply]:
    """"Sửa" a field: clear it, so the form asks for it again and then comes back to the summary."""
    t = ctx.t
    if not LEAD.active(ctx):
        return [menu_reply(t, t("lead_not_running"))]
    data = LEAD.data(ctx)
    cleared = {
        "name": {"name": None}, "phone": {"phone": None}, "who": {"who": None},
        "birth": {"birth_year": None, "grade": None},
        "trade": {"trade": None, "trade_text": None, "trade_asked": False,
                  "school": None, "school_asked": False},
        "school": {"school": None, "school_asked": False},
        "time": {"time": None},
    }.get(pressed.field)
    if cleared is None:
        return [_summary(ctx, data)]
    data = _with(data, **cleared)
    if pressed.field == "school" and not _school_choices(ctx, data):
        # No school teaches the trade chosen (or none is chosen): choose the trade again, then the school.
        data = _with(data, trade=None, trade_text=None, trade_asked=False)
    return await advance(ctx, data)


@router.button(LeadConfirm)
async def confirm_pressed(ctx: Ctx, pressed: LeadConfirm) -> list[Reply]:
    """"Xác nhận gửi" writes the registration; "Hủy" drops the form."""
    t = ctx.t
    if not LEAD.at(ctx, "confirm"):
        if LEAD.active(ctx):
            data = LEAD.data(ctx)
            return [_ask(ctx, next_step(ctx, data), data)]
        return [menu_reply(t, t("lead_not_running"))]
    if pressed.answer != "y":
        await LEAD.end(ctx)
        return [menu_reply(t, t("lead_cancelled"))]
    return await _confirm(ctx, LEAD.data(ctx))


async def cancel(ctx: Ctx) -> list[Reply]:
    """/huybo in the form: nothing typed so far is kept."""
    await LEAD.end(ctx)
    return [menu_reply(ctx.t, ctx.t("lead_cancelled"))]


LEAD.cancel(cancel)


# --- typed answers -------------------------------------------------------------------------------------

@LEAD.step("parent")
async def parent_typed(ctx: Ctx) -> list[Reply]:
    """An under-16's parental consent typed ("đồng ý" / "để sau"), as the buttons would; else: press one."""
    folded = fold(ctx.text)
    if folded in YES or folded in {"da dong y", "cha me da dong y", "roi"}:
        return await parent_pressed(ctx, LeadParent(True))
    if folded in NO_WORDS or folded in {"de sau", "chua dong y"}:
        return await parent_pressed(ctx, LeadParent(False))
    return [_ask(ctx, "parent", LEAD.data(ctx), problem=ctx.t("lead_pick"))]


@LEAD.step("name")
async def name_typed(ctx: Ctx) -> list[Reply]:
    """The full name typed: kept and the next question asked, or asked again if it cannot be a name."""
    data = LEAD.data(ctx)
    name = clean_name(ctx.text)
    if name is None:
        return [Reply(ctx.t("lead_bad_name", max=NAME_MAX))]
    return await advance(ctx, _with(data, name=name))


@LEAD.step("phone")
async def phone_typed(ctx: Ctx) -> list[Reply]:
    """The phone number typed: kept as a Vietnamese mobile number, or asked again with the expected form."""
    data = LEAD.data(ctx)
    phone = normalise_phone(ctx.text)
    if phone is None:
        return [Reply(ctx.t("lead_bad_phone"))]
    return await advance(ctx, _with(data, phone=phone))


async def _choice_typed(ctx: Ctx, step: str, words: dict[str, set[str]],
                        labels: dict[str, str]) -> list[Reply]:
    """A step answered with buttons, typed instead: the choice whose words or label match (stored in the
    field named like the step), else the question again with a request to press a button."""
    data = LEAD.data(ctx)
    folded = fold(ctx.text)
    for key, said in words.items():
        if folded in said or folded == fold(labels[key]):
            return await advance(ctx, _with(data, **{step: key}))
    return [_ask(ctx, step, data, problem=ctx.t("lead_pick"))]


@LEAD.step("who")
async def who_typed(ctx: Ctx) -> list[Reply]:
    """"Học sinh" or "phụ huynh" typed (or a word for either); anything else: press one of the buttons."""
    return await _choice_typed(ctx, "who", WHO_WORDS, WHO)


@LEAD.step("birth")
async def birth_typed(ctx: Ctx) -> list[Reply]:
    """A birth year or school grade typed: kept, or the reason it cannot be one (future, implausible)."""
    t = ctx.t
    data = LEAD.data(ctx)
    this_year = _this_year(ctx)
    kind, value = parse_birth(ctx.text, this_year)
    if kind == "year":
        return await advance(ctx, _with(data, birth_year=value, grade=None))
    if kind == "grade":
        return await advance(ctx, _with(data, grade=value, birth_year=None))
    if kind == "future":
        return [Reply(t("lead_future_birth", year=value))]
    if kind == "absurd":
        return [Reply(t("lead_absurd_birth", year=value, low=this_year - OLDEST_AGE,
                        high=this_year - YOUNGEST_AGE))]
    return [Reply(t("lead_bad_birth"))]


@LEAD.step("trade")
async def trade_typed(ctx: Ctx) -> list[Reply]:
    """A trade typed: a known trade, "none", or kept as free text; unreadable: asked again with buttons."""
    data = LEAD.data(ctx)
    folded = fold(ctx.text)
    if folded in NO_WORDS or folded == fold(ctx.t.button("lead_no_trade")):
        return await advance(ctx, _with(data, trade=None, trade_text=None, trade_asked=True))
    trade = find_trade(ctx, folded)
    if trade is not None:
        return await advance(ctx, _with(data, trade=trade, trade_text=None, trade_asked=True))
    text = " ".join(ctx.text.split())
    if 2 <= len(text) <= TRADE_TEXT_MAX and any(ch.isalpha() for ch in text):
        return await advance(ctx, _with(data, trade=None, trade_text=text, trade_asked=True))
    return [Reply(ctx.t("lead_bad_trade"), _trade_buttons(ctx, data))]


def find_trade(ctx: Ctx, folded: str) -> str | None:
    """The trade id a typed name stands for ("han", "nghề hàn", "logistics"), if exactly one fits."""
    if len(folded) < 2:
        return None
    found = []
    for trade in ctx.base.trades.values():
        title = fold(trade.title)
        bare = title.removeprefix("nghe ").strip()
        short = trade.id.rsplit(".", 1)[-1].replace("_", " ")
        if folded in (title, bare, short):
            return trade.id
        if len(folded) >= 3 and (folded in bare.split() or (len(folded) >= 4 and folded in bare)):
            found.append(trade.id)
    return found[0] if len(found) == 1 else None


@LEAD.step("school")
async def school_typed(ctx: Ctx) -> list[Reply]:
    """A school typed: the one offered school whose name contains it, or "none"; else: press a button."""
    data = LEAD.data(ctx)
    folded = fold(ctx.text)
    if folded in NO_WORDS or folded == fold(ctx.t.button("lead_no_school")):
        return await advance(ctx, _with(data, school=None, school_asked=True))
    choices = _school_choices(ctx, data)
    found = [s.id for s in choices if len(folded) >= 4 and folded in fold(s.name)]
    if len(found) == 1:
        return await advance(ctx, _with(data, school=found[0], school_asked=True))
    return [_ask(ctx, "school", data, problem=ctx.t("lead_pick"))]


@LEAD.step("time")
async def time_typed(ctx: Ctx) -> list[Reply]:
    """When to call, typed ("sáng", "chiều", "tối", "lúc nào cũng được"); else: press one of the buttons."""
    return await _choice_typed(ctx, "time", TIME_WORDS, TIMES)


@LEAD.step("confirm")
async def confirm_typed(ctx: Ctx) -> list[Reply]:
    """At the summary: "xác nhận" sends, "hủy"/"không" cancels, anything else shows the summary again."""
    folded = fold(ctx.text)
    if folded in YES:
        return await _confirm(ctx, LEAD.data(ctx))
    if folded in {"huy", "khong", "thoi", "khong gui"}:
        return await cancel(ctx)
    data = LEAD.data(ctx)
    summary = _summary(ctx, data)
    return [Reply(ctx.t("lead_not_confirm") + "\n\n" + summary.text, summary.buttons)]


# --- confirmation --------------------------------------------------------------------------------------

async def _confirm(ctx: Ctx, data: LeadData) -> list[Reply]:
    t = ctx.t
    step = next_step(ctx, data)
    if step != "confirm" or data.name is None or data.phone is None or data.who is None or data.time is None:
        await LEAD.goto(ctx, step, data)  # something went missing (content changed): ask for it
        return [_ask(ctx, step, data)]
    lead = await ctx.store.leads.add(
        ctx.profile.id, ctx.ref.channel, full_name=data.name, phone=data.phone, who=data.who,
        birth_year=data.birth_year, grade=data.grade, trade_id=data.trade, trade_text=data.trade_text,
        school_id=data.school, call_time=data.time)
    await LEAD.end(ctx)
    log.info("registration #%s by %s recorded", lead.id, ctx.ref)
    await _tell_staff(ctx, lead.id, data, lead.created_at)
    return [menu_reply(t, t("lead_done", id=lead.id, phone=show_phone(data.phone),
                            time=TIMES[data.time].lower()))]


async def _tell_staff(ctx: Ctx, lead_id: int | None, data: LeadData, at: datetime) -> None:
    """The staff chat, and the school's own chat when it has one, get the registration."""
    chats: list[str] = []
    if ctx.services.settings.staff_chat_id:
        chats.append(ctx.services.settings.staff_chat_id)
    own = _school_chat(ctx, data)
    if own and own[1] not in chats:
        chats.append(own[1])
    if not chats:
        log.info("registration #%s: no staff chat configured (see `chonnghe leads list`)", lead_id)
        return
    local = at.astimezone(ctx.services.settings.zone)
    card = Reply(ctx.t("staff_lead", id=lead_id, channel=CHANNEL_LABELS.get(ctx.ref.channel, ctx.ref.channel),
                       at=f"{local:%H:%M %d/%m/%Y}", lines="\n".join(_lines(ctx, data))))
    for chat in chats:
        try:
            sent = await ctx.services.messenger.send(UserRef(Channel.TELEGRAM, chat), card)
        except Exception:  # the registration is recorded; staff also find it with `chonnghe leads list`
            log.exception("registration #%s: could not tell staff chat %s", lead_id, chat)
            continue
        if sent is None:
            log.warning("registration #%s: staff chat %s did not receive it", lead_id, chat)


def _with(data: LeadData, **changes: object) -> LeadData:
    return dataclasses.replace(data, **changes)  # type: ignore[arg-type]
