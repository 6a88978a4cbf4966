"""The school browser: by former province (Hải Phòng, Hải Dương before the 2025 merger), a page per school
with what a public source supports, the trades it teaches and "Đăng ký nhận tin"."""

from __future__ import annotations

import math

from bot.content.loader import LEVELS, PROVINCES
from bot.types import Button, Reply
from handlers.buttons import LeadStart, Province, Subscribe, Trade
from handlers.buttons import School as SchoolButton
from handlers.common import clip, menu_reply, menu_row, ref, unref, vn_date
from handlers.router import Ctx, Router

router = Router()

PAGE = 8
TRADES_ON_PAGE = 8


def provinces(ctx: Ctx) -> list[Reply]:
    """The school browser's start: a button per former province with schools (the list, if only one)."""
    t = ctx.t
    present = [p for p in PROVINCES if any(s.former_province == p for s in ctx.base.schools.values())]
    if not present:
        return [menu_reply(t, t("no_schools"))]
    if len(present) == 1:
        return _school_list(ctx, present[0], 1)
    buttons = [(Button(PROVINCES[p], payload=Province(p).pack()),) for p in present]
    buttons.append(menu_row(t))
    return [Reply(t("schools_where"), tuple(buttons))]


@router.button(Province)
async def province_pressed(ctx: Ctx, pressed: Province) -> list[Reply]:
    """A province (or its next/previous page) pressed: that page of its schools; unknown: the provinces."""
    if pressed.province not in PROVINCES:
        return provinces(ctx)
    return _school_list(ctx, pressed.province, pressed.page)


def _school_list(ctx: Ctx, province: str, page: int) -> list[Reply]:
    t = ctx.t
    schools = sorted((s for s in ctx.base.schools.values() if s.former_province == province),
                     key=lambda s: s.name)
    if not schools:
        return provinces(ctx)
    pages = max(1, math.ceil(len(schools) / PAGE))
    page = min(max(1, page), pages)
    shown = schools[(page - 1) * PAGE: page * PAGE]
    buttons: list[tuple[Button, ...]] = [(Button(clip(s.name, 60), payload=SchoolButton(ref(s.id)).pack()),)
                                         for s in shown]
    nav = []
    if page > 1:
        nav.append(Button(t.button("prev"), payload=Province(province, page - 1).pack()))
    if page < pages:
        nav.append(Button(t.button("more"), payload=Province(province, page + 1).pack()))
    if nav:
        buttons.append(tuple(nav))
    buttons.append((Button(t.button("back_provinces"), payload=Province().pack()),))
    return [Reply(t("schools_list", province=PROVINCES[province], page=page, pages=pages), tuple(buttons))]


@router.button(SchoolButton)
async def school_pressed(ctx: Ctx, pressed: SchoolButton) -> list[Reply]:
    """A school pressed: its page and source, with buttons for its trades, website, counselling, news."""
    t = ctx.t
    base = ctx.base
    school_id = unref(pressed.school, base.schools)
    if school_id is None:
        return [menu_reply(t, t("entry_gone"))]
    school = base.schools[school_id]
    levels = ", ".join(LEVELS[lv] for lv in school.levels if lv in LEVELS) or "—"
    parts = [t("school_page", name=school.name, province=PROVINCES.get(school.former_province, "—"),
                 levels=levels)]
    trades = [base.trades[tid] for tid in school.trades if tid in base.trades]
    if trades:
        parts.append(t("school_trades") + "\n" + "\n".join(f"- {tr.title}" for tr in trades))
    parts.append(t("source", source=clip(school.source, 300), reviewed=vn_date(school.reviewed)))
    buttons: list[tuple[Button, ...]] = [(Button(clip(tr.title, 60), payload=Trade(ref(tr.id)).pack()),)
                                         for tr in trades[:TRADES_ON_PAGE]]
    if school.website:
        buttons.append((Button(t.button("website"), url=school.website),))
    buttons.append((Button(t.button("lead"), payload=LeadStart("t", ref(school.id)).pack()),))
    buttons.append((Button(t.button("subscribe"), payload=Subscribe().pack()),))
    buttons.append((Button(t.button("back_provinces"), payload=Province(school.former_province).pack()),))
    return [Reply("\n\n".join(parts), tuple(buttons))]
