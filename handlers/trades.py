"""The trade browser: groups of trades, a trade's page, the schools that teach it, and "Đăng ký nhận tin"."""

from __future__ import annotations

from bot.content import render_trade
from bot.types import Button, Reply
from handlers.buttons import Counsellor, Group, School, Subscribe, Trade, TradeSchools
from handlers.common import clip, menu_reply, menu_row, ref, unref
from handlers.faq import answer_reply
from handlers.router import Ctx, Router

router = Router()


def groups(ctx: Ctx) -> list[Reply]:
    t = ctx.t
    base = ctx.base
    used = [g for g in base.groups.values() if base.trades_in(g.id)]
    if not used:
        return [menu_reply(t, t("no_trades"))]
    buttons = [(Button(clip(g.label, 60), payload=Group(ref(g.id)).pack()),) for g in used]
    buttons.append(menu_row(t))
    return [Reply(t("groups"), tuple(buttons))]


@router.button(Group)
async def group_pressed(ctx: Ctx, pressed: Group) -> list[Reply]:
    base = ctx.base
    group_id = unref(pressed.group, base.groups) if pressed.group else None
    if group_id is None:
        return groups(ctx)
    t = ctx.t
    trades = sorted(base.trades_in(group_id), key=lambda tr: tr.title)
    if not trades:
        return groups(ctx)
    buttons = [(Button(clip(tr.title, 60), payload=Trade(ref(tr.id)).pack()),) for tr in trades]
    buttons.append((Button(t.button("back_groups"), payload=Group().pack()),))
    return [Reply(t("trades_in_group", group=base.groups[group_id].label), tuple(buttons))]


@router.button(Trade)
async def trade_pressed(ctx: Ctx, pressed: Trade) -> list[Reply]:
    base = ctx.base
    trade_id = unref(pressed.trade, base.trades)
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
                     ((Button(t.button("schools_of_trade"), payload=TradeSchools(ref(trade_id)).pack()),
                       Button(t.button("subscribe"), payload=Subscribe().pack())),))
    back = (Button(t.button("back_groups"), payload=Group(ref(trade.group)).pack()),)
    return Reply(page.text, (*page.buttons, back))


@router.button(TradeSchools)
async def schools_of_trade(ctx: Ctx, pressed: TradeSchools) -> list[Reply]:
    base = ctx.base
    t = ctx.t
    trade_id = unref(pressed.trade, base.trades)
    if trade_id is None:
        return [menu_reply(t, t("entry_gone"))]
    trade = base.trades[trade_id]
    schools = sorted(base.schools_for(trade_id), key=lambda s: s.name)
    back = (Button("« " + clip(trade.title, 40), payload=Trade(ref(trade_id)).pack()),)
    subscribe = (Button(t.button("subscribe"), payload=Subscribe().pack()),)
    if not schools:
        return [Reply(t("trade_no_schools", trade=trade.title),
                      ((Button(t.button("counsellor"), payload=Counsellor().pack()),), subscribe, back))]
    buttons = [(Button(clip(s.name, 60), payload=School(ref(s.id)).pack()),) for s in schools]
    return [Reply(t("trade_schools", trade=trade.title), (*buttons, subscribe, back))]
