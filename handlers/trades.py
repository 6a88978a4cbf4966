"""The trade browser: groups of trades, a trade's page, the schools that teach it, and "Đăng ký nhận tin"."""

from __future__ import annotations

from bot.content import render_trade
from bot.types import Button, Reply
from handlers.common import clip, menu_reply, menu_row, payload, ref, unref
from handlers.faq import answer_reply
from handlers.router import Ctx, Router

router = Router()


def groups(ctx: Ctx) -> list[Reply]:
    t = ctx.t
    base = ctx.base
    used = [g for g in base.groups.values() if base.trades_in(g.id)]
    if not used:
        return [menu_reply(t, t("no_trades"))]
    buttons = [(Button(clip(g.label, 60), payload=payload("ng", ref(g.id))),) for g in used]
    buttons.append(menu_row(t))
    return [Reply(t("groups"), tuple(buttons))]


@router.payload("ng")
async def group_pressed(ctx: Ctx) -> list[Reply]:
    base = ctx.base
    group_id = unref(ctx.args[0], base.groups) if ctx.args else None
    if group_id is None:
        return groups(ctx)
    t = ctx.t
    trades = sorted(base.trades_in(group_id), key=lambda tr: tr.title)
    if not trades:
        return groups(ctx)
    buttons = [(Button(clip(tr.title, 60), payload=payload("n", ref(tr.id))),) for tr in trades]
    buttons.append((Button(t.button("back_groups"), payload="ng"),))
    return [Reply(t("trades_in_group", group=base.groups[group_id].label), tuple(buttons))]


@router.payload("n")
async def trade_pressed(ctx: Ctx) -> list[Reply]:
    base = ctx.base
    trade_id = unref(ctx.args[0], base.trades) if ctx.args else None
    if trade_id is None:
        return [menu_reply(ctx.t, ctx.t("entry_gone"))]
    return [trade_page(ctx, trade_id)]


def trade_page(ctx: Ctx, trade_id: str) -> Reply:
    base = ctx.base
    t = ctx.t
    trade = base.trades[trade_id]
    entry = base.entries.get(trade_id)
    if entry is not None:
        page = answer_reply(ctx, entry)
    else:  # expired as an answer, still listed: show its fields without the schools' claims
        page = Reply(render_trade(trade, base.schools_for(trade_id), t),
                     ((Button(t.button("schools_of_trade"), payload=payload("nt", ref(trade_id))),
                       Button(t.button("subscribe"), payload="dk")),))
    back = (Button(t.button("back_groups"), payload=payload("ng", ref(trade.group))),)
    return Reply(page.text, (*page.buttons, back))


@router.payload("nt")
async def schools_of_trade(ctx: Ctx) -> list[Reply]:
    base = ctx.base
    t = ctx.t
    trade_id = unref(ctx.args[0], base.trades) if ctx.args else None
    if trade_id is None:
        return [menu_reply(t, t("entry_gone"))]
    trade = base.trades[trade_id]
    schools = sorted(base.schools_for(trade_id), key=lambda s: s.name)
    back = (Button("« " + clip(trade.title, 40), payload=payload("n", ref(trade_id))),)
    subscribe = (Button(t.button("subscribe"), payload="dk"),)
    if not schools:
        return [Reply(t("trade_no_schools", trade=trade.title),
                      ((Button(t.button("counsellor"), payload="tv"),), subscribe, back))]
    buttons = [(Button(clip(s.name, 60), payload=payload("t", ref(s.id))),) for s in schools]
    return [Reply(t("trade_schools", trade=trade.title), (*buttons, subscribe, back))]
