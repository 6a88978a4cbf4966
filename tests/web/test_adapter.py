"""The web adapter over real WebSockets on loopback (no browser): the protocol, the mailbox, safety limits,
broadcasts, data deletion."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import sqlalchemy as sa

from bot import app as app_module
from bot.channels import web
from bot.channels.web import (
    COOKIE,
    MAX_FRAME,
    MAX_TEXT,
    STALE,
    TOO_FAST,
    TOO_LONG,
    WS_PATH,
    VisitorTokens,
    body_of,
)
from bot.clock import FakeClock
from bot.storage.db import create_engine, migrate
from bot.storage.mailbox import Mailbox
from bot.storage.models import User
from bot.storage.repo import Store
from bot.types import Button, Reply, UserRef
from tests.conftest import BACKENDS
from tests.fakes import eventually
from tests.web.client import ChatClient
from tests.web.conftest import start_bot, web_settings


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def visit(session, web_bot, **kw) -> ChatClient:
    """A first visit: connected, greeted (welcome text and "Bạn là ai?")."""
    client = await ChatClient(session, web_bot.url).connect(**kw)
    await client.wait_for(lambda f: f["t"] == "m" and f["text"] == "Bạn là ai?")
    await client.wait_for(lambda f: f["t"] == "typing" and not f["on"])
    return client


def visitor_of(client: ChatClient) -> str:
    return client.welcome["token"].split(".")[0]


async def test_a_first_visit_is_greeted_and_a_question_answered(session, web_bot):
    client = await visit(session, web_bot)
    assert client.welcome["unread"] == 0
    greeting, who = client.messages("bot")
    assert "Xin chào" in greeting["text"] and len([b for row in who["buttons"] for b in row]) == 6
    answer = await client.reply_to("hoc nghe han o dau")
    assert answer["text"].startswith("Nghề Hàn") and "Nguồn:" in answer["text"]
    echo = client.messages("user")[-1]
    assert echo["text"] == "hoc nghe han o dau" and echo["cid"] == "c1" and echo["id"] < answer["id"]
    assert all("payload" not in b for row in answer["buttons"] for b in row)  # payloads stay on the server
    await client.close()


async def test_typing_is_shown_only_when_an_answer_takes_a_moment(session, web_bot, monkeypatch):
    client = await visit(session, web_bot)
    # An answer within TYPING_AFTER (30 s here: any answer is) sends no "typing on", only the turn's end.
    monkeypatch.setattr(web, "TYPING_AFTER", 30.0)
    start = len(client.frames)
    await client.reply_to("hoc nghe han o dau")
    assert [f["on"] for f in client.frames[start:] if f["t"] == "typing"] == [False]
    # One slower than TYPING_AFTER (0 here) is announced before its answer, then "typing off" follows it.
    monkeypatch.setattr(web, "TYPING_AFTER", 0.0)
    start = len(client.frames)
    await client.reply_to("hoc nghe han o dau")
    kinds = [("typing", f["on"]) if f["t"] == "typing" else (f["t"], f.get("from"))
             for f in client.frames[start:]]
    assert kinds.index(("typing", True)) < kinds.index(("m", "bot")) < kinds.index(("typing", False))
    await client.close()


async def test_the_socket_declines_compression(session, web_bot):
    # Browsers offer permessage-deflate; a zlib state per open chat would cost ~110 KB each (bench_web).
    ws = await session.ws_connect(web_bot.url + WS_PATH, headers={"Origin": web_bot.origin}, compress=15)
    assert ws.compress == 0
    await ws.send_str(json.dumps({"t": "hello", "after": 0, "token": None}))
    assert json.loads((await ws.receive()).data)["t"] == "welcome"
    await ws.close()


async def test_pressing_a_button_sends_its_payload_and_echoes_its_label(session, web_bot):
    client = await visit(session, web_bot)
    who = client.messages("bot")[-1]
    parent = next(b for row in who["buttons"] for b in row if b["label"] == "Phụ huynh")
    start = len(client.frames)
    await client.send({"t": "press", "id": who["id"], "i": parent["i"]})
    reply = await client.wait_for(lambda f: f["t"] == "m" and f["from"] == "bot", start=start)
    assert "Phụ huynh" in reply["text"]
    assert client.messages("user")[-1]["text"] == "Phụ huynh"
    # A button that was never offered (another index, another message id) is refused politely.
    start = len(client.frames)
    await client.send({"t": "press", "id": who["id"], "i": 99})
    refused = await client.wait_for(lambda f: f["t"] == "refused", start=start)
    assert refused["text"] == STALE
    await client.close()


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_a_reconnect_gets_what_it_missed_exactly_once_and_a_reload_everything(session, web_bot):
    client = await visit(session, web_bot)
    await client.reply_to("hoc nghe han o dau")
    last = max(m["id"] for m in client.messages())
    visitor, token = visitor_of(client), client.welcome["token"]
    await client.close()
    # Sent while no page is open: kept in the mailbox.
    for text in ("Tin thứ nhất", "Tin thứ hai"):
        await web_bot.web.send(visitor, Reply(text))
    again = await ChatClient(session, web_bot.url).connect(after=last, token=token)
    assert [m["text"] for m in again.messages()] == ["Tin thứ nhất", "Tin thứ hai"]
    assert again.welcome["unread"] >= 2
    await again.close()
    reload = await ChatClient(session, web_bot.url).connect(after=0, token=token)
    texts = [m["text"] for m in reload.messages()]
    assert texts[-2:] == ["Tin thứ nhất", "Tin thứ hai"] and "hoc nghe han o dau" in texts
    assert len({m["id"] for m in reload.messages()}) == len(reload.messages())
    await reload.close()


async def test_messages_survive_a_restart_of_the_service(session, aiohttp_server, db_url):
    from bot import app as app_module

    first = await start_bot(aiohttp_server, web_settings(db_url))
    client = await visit(session, first)
    answer = await client.reply_to("hoc nghe han o dau")
    token = client.welcome["token"]
    await app_module.stop(first.app)  # closes the page's socket with 1001 (going away)
    code = await client.closed()
    assert code == 1001
    second = await start_bot(aiohttp_server, web_settings(db_url))
    try:
        back = await ChatClient(session, second.url).connect(after=0, token=token)
        assert answer["text"] in [m["text"] for m in back.messages()]
        await back.close()
    finally:
        await app_module.stop(second.app)


async def test_a_live_push_racing_the_catch_up_is_delivered_once(session, web_bot):
    client = await visit(session, web_bot)
    visitor, token = visitor_of(client), client.welcome["token"]
    last = max(m["id"] for m in client.messages())
    await client.close()
    again = ChatClient(session, web_bot.url)
    await again.connect(hello=False)
    sends = [asyncio.create_task(web_bot.web.send(visitor, Reply(f"tin {n}"))) for n in range(20)]
    await again.send({"t": "hello", "after": last, "token": token})
    await asyncio.gather(*sends)
    await again.wait_for(lambda f: f["t"] == "synced")
    await again.wait_for(lambda f: f["t"] == "m" and f["text"] == "tin 19")
    await asyncio.sleep(0.2)  # let any duplicate arrive (there must be none)
    ids = [m["id"] for m in again.messages()]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 20
    await again.close()


async def test_nothing_a_visitor_sends_reaches_another(session, web_bot):
    a = await visit(session, web_bot)
    b = await visit(session, web_bot)
    assert visitor_of(a) != visitor_of(b)
    before = len(b.frames)
    await a.reply_to("hoc nghe han o dau")
    await asyncio.sleep(0.1)
    assert all(f["t"] != "m" for f in b.frames[before:])
    # b cannot press a's buttons, nor read a's history with a forged token.
    a_answer = a.messages("bot")[-1]
    await b.send({"t": "press", "id": a_answer["id"], "i": 0})
    assert (await b.wait_for(lambda f: f["t"] == "refused", start=before))["text"] == STALE
    forged = a.welcome["token"][:-2] + ("AA" if not a.welcome["token"].endswith("AA") else "BB")
    c = await ChatClient(session, web_bot.url).connect(token=forged)
    assert visitor_of(c) != visitor_of(a)
    assert "hoc nghe han o dau" not in [m["text"] for m in c.messages()]
    for client in (a, b, c):
        await client.close()


async def test_other_origins_are_refused(session, web_bot):
    for origin in ("https://evil.example", "null", ""):
        with pytest.raises(aiohttp.WSServerHandshakeError) as err:
            await ChatClient(session, web_bot.url, origin=origin).connect()
        assert err.value.status == 403


@pytest.mark.parametrize("web_bot", [{"web_max_connections": 3}], indirect=True)
async def test_connections_per_address_are_capped(session, web_bot):
    clients = [await ChatClient(session, web_bot.url).connect() for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await ChatClient(session, web_bot.url).connect()
    assert err.value.status == 429
    await clients[0].close()
    await asyncio.sleep(0.05)
    extra = await ChatClient(session, web_bot.url).connect()  # room again
    for client in (*clients[1:], extra):
        await client.close()


@pytest.mark.parametrize("frame, code", [
    ("x" * (MAX_FRAME + 10), 1009),  # oversized
    (b"\x00\x01", 1003),  # binary
    ("not json {", 1007),  # malformed
    ('{"t": "launch-missiles"}', 1008),  # not our protocol
    ('["hello"]', 1008),
    ('{"t": "msg", "text": 42}', 1008),
])
async def test_bad_frames_close_the_socket_with_a_clear_code(session, web_bot, frame, code):
    client = await ChatClient(session, web_bot.url).connect()
    assert client.ws is not None
    if isinstance(frame, bytes):
        await client.ws.send_bytes(frame)
    else:
        await client.ws.send_str(frame)
    assert await client.closed() == code


async def test_the_first_frame_must_be_hello(session, web_bot):
    client = await ChatClient(session, web_bot.url).connect(hello=False)
    await client.say("xin chào")
    assert await client.closed() == 1008


async def test_a_message_over_the_limit_is_refused_politely(session, web_bot):
    client = await visit(session, web_bot)
    start = len(client.frames)
    await client.say("a" * (MAX_TEXT + 1), cid="long")
    refused = await client.wait_for(lambda f: f["t"] == "refused", start=start)
    assert refused["cid"] == "long" and refused["text"] == TOO_LONG.format(n="2.001", limit="2.000")
    assert not [m for m in client.messages("user")]  # nothing stored or handled
    await client.close()


async def test_a_visitor_sending_too_fast_is_slowed_with_a_polite_reply(session, web_bot):
    now = [1000.0]
    web_bot.web.per_visitor.time = web_bot.web.per_address.time = lambda: now[0]
    client = await visit(session, web_bot)
    start = len(client.frames)
    for n in range(6):  # a burst of 5 goes through; the 6th is refused
        await client.say(f"câu hỏi số {n}", cid=f"c{n}")
    refused = await client.wait_for(lambda f: f["t"] == "refused", start=start)
    assert refused["cid"] == "c5" and refused["text"] == TOO_FAST and 0 < refused["retry"] <= 1
    await client.wait_for(lambda f: f["t"] == "m" and f["from"] == "user" and f.get("cid") == "c4",
                          start=start)
    assert not any(f.get("cid") == "c5" and f["t"] == "m" for f in client.frames)
    now[0] += 1.0  # a second later: one more is allowed
    await client.say("câu hỏi số 6", cid="c6")
    await client.wait_for(lambda f: f["t"] == "m" and f.get("cid") == "c6", start=start)
    await client.close()


@pytest.mark.parametrize("web_bot", [{"web_address_rate": 1.0, "web_address_burst": 3}], indirect=True)
async def test_an_address_sending_too_fast_is_slowed(session, web_bot):
    now = [1000.0]
    web_bot.web.per_visitor.time = web_bot.web.per_address.time = lambda: now[0]
    a, b = await visit(session, web_bot), await visit(session, web_bot)
    for n in range(2):
        await a.say(f"a{n}", cid=f"a{n}")
    await b.say("b0", cid="b0")
    await b.say("b1", cid="b1")  # the address's 4th message in the same instant
    refused = await b.wait_for(lambda f: f["t"] == "refused")
    assert refused["cid"] == "b1" and refused["text"] == TOO_FAST
    for client in (a, b):
        await client.close()


async def test_typed_html_is_stored_and_sent_as_text(session, web_bot):
    client = await visit(session, web_bot)
    attack = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    await client.reply_to(attack)
    assert client.messages("user")[-1]["text"] == attack  # the page renders it as a text node
    await client.close()


async def test_restart_empties_the_mailbox_and_starts_over(session, web_bot):
    client = await visit(session, web_bot)
    await client.reply_to("hoc nghe han o dau")
    visitor = visitor_of(client)
    start = len(client.frames)
    await client.send({"t": "restart"})
    await client.wait_for(lambda f: f["t"] == "cleared", start=start)
    welcome = await client.wait_for(lambda f: f["t"] == "m" and f["from"] == "bot", start=start)
    assert "Xin chào" in welcome["text"] or "Bạn muốn làm gì" in welcome["text"]
    await client.wait_for(lambda f: f["t"] == "typing" and not f["on"], start=start)
    texts = [json.loads(letter.body)["text"] for letter in await web_bot.web.mailbox.since(visitor)]
    assert "hoc nghe han o dau" not in texts and texts
    await client.close()


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_deleting_ones_data_clears_the_mailbox(session, web_bot):
    client = await visit(session, web_bot)
    await client.reply_to("hoc nghe han o dau")
    visitor = visitor_of(client)
    shown = await client.reply_to("/xoadulieu")
    assert "Thông tin bot đang lưu về bạn" in shown["text"] and "Trang web" in shown["text"]
    yes = next(b for row in shown["buttons"] for b in row if "Xóa hết" in b["label"])
    start = len(client.frames)
    await client.send({"t": "press", "id": shown["id"], "i": yes["i"]})
    done = await client.wait_for(lambda f: f["t"] == "m" and f["from"] == "bot", start=start)
    assert "Đã xóa toàn bộ dữ liệu" in done["text"]
    await client.wait_for(lambda f: f["t"] == "typing" and not f["on"], start=start)
    left = [json.loads(letter.body)["text"] for letter in await web_bot.web.mailbox.since(visitor)]
    assert left == [done["text"]]  # only the confirmation, sent after the deletion
    assert await web_bot.app.store.users.get(UserRef("web", visitor)) is None
    await client.close()


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_a_broadcast_reaches_web_subscribers_live_and_waits_unread_for_the_others(session, web_bot):
    online, offline = await visit(session, web_bot), await visit(session, web_bot)
    for client in (online, offline):
        await client.reply_to("/dangky tuyen_sinh")
        await client.send({"t": "ack", "id": max(m["id"] for m in client.messages())})
    token = offline.welcome["token"]
    last = max(m["id"] for m in offline.messages())
    await offline.close()
    start = len(online.frames)
    broadcast = await web_bot.broadcast("Ngày hội tư vấn tuyển sinh sắp diễn ra.")
    live = await online.wait_for(lambda f: f["t"] == "m" and "Ngày hội" in f["text"], start=start)
    assert "Ngừng nhận tin" in live["text"]
    shown = await web_bot.broadcast_done(broadcast)
    assert shown["counts"].get("sent") == 2, shown
    # What the widget's launcher asks on the next page of a school's site (badge.js): the count, for the
    # token's visitor only; a forged or missing token is nobody's and creates nobody.
    async def people() -> int:
        async with web_bot.app.store.session() as s:
            return (await s.execute(sa.select(sa.func.count()).select_from(User))).scalar_one()

    before = await people()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        for headers, expected in (({web.TOKEN_HEADER: token}, 1), ({web.TOKEN_HEADER: token[:-2] + "xx"}, 0),
                                  ({}, 0)):
            async with bare.get(web_bot.url + web.UNREAD_PATH, headers=headers) as resp:
                assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
                assert await resp.json() == {"unread": expected}, headers
        async with bare.get(web_bot.url + web.BADGE_PATH) as resp:
            assert resp.status == 200 and "frame-ancestors" in resp.headers["Content-Security-Policy"]
            assert "badge.js" in await resp.text() and web.COOKIE not in resp.cookies
    assert await people() == before
    back = await ChatClient(session, web_bot.url).connect(after=0, token=token)
    assert back.welcome["unread"] == 1, (back.welcome, last)
    assert [m for m in back.messages() if m["id"] > last and "Ngày hội" in m["text"]]
    await back.close()
    await online.close()


async def test_the_page_sets_a_signed_visitor_cookie(session, web_bot):
    async with session.get(web_bot.url + "/") as resp:
        assert resp.status == 200
        morsel = resp.cookies[COOKIE]
        assert morsel["httponly"] and morsel["samesite"] == "None" and morsel["secure"]
    secret = await web_bot.app.store.kv.get("web_cookie_secret")
    assert secret and VisitorTokens(secret).verify(morsel.value)
    # A page that already has a good cookie keeps it.
    async with session.get(web_bot.url + "/", headers={"Cookie": f"{COOKIE}={morsel.value}"}) as resp:
        assert COOKIE not in resp.cookies
    # The WebSocket takes the visitor from the cookie.
    client = await ChatClient(session, web_bot.url, cookies={COOKIE: morsel.value}).connect()
    assert client.welcome["token"] == morsel.value
    await client.close()


async def test_static_files_and_the_widget(session, web_bot):
    async with session.get(web_bot.url + "/widget.js") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/javascript")
        assert "attachShadow" in await resp.text()
    async with session.get(web_bot.url + "/web/static/chat.css") as resp:
        assert resp.status == 200 and resp.headers["X-Content-Type-Options"] == "nosniff"
    async with session.get(web_bot.url + "/web/static/..%2Fweb.py") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("web_bot", [{"web_origins": "https://truong.edu.vn, http://localhost:9999"}],
                         indirect=True)
async def test_frame_ancestors_lists_the_configured_origins(session, web_bot):
    async with session.get(web_bot.url + "/?embed=1&title=Tr%C6%B0%E1%BB%9Dng&colour=%23aa0000") as resp:
        csp = resp.headers["Content-Security-Policy"]
        html = await resp.text()
    assert "frame-ancestors 'self' https://truong.edu.vn http://localhost:9999" in csp
    assert 'data-accent="#aa0000"' in html and "<h1>Trường</h1>" in html


async def test_injected_title_is_escaped(session, web_bot):
    async with session.get(web_bot.url
                           + "/?embed=1&title=%3Cscript%3Ealert(1)%3C/script%3E&colour=red;x") as resp:
        html = await resp.text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html and "data-accent" not in html


async def test_mailbox_appends_concurrently_in_order(store):
    mailbox = Mailbox(store)
    ids = await asyncio.gather(*(mailbox.append("v1", "bot", body_of(Reply(f"m{n}", ((Button("b", "p"),),))))
                                 for n in range(50)))
    assert ids == sorted(ids) and len(set(ids)) == 50
    letters = await mailbox.since("v1")
    assert [json.loads(x.body)["text"] for x in letters] == [f"m{n}" for n in range(50)]
    assert await mailbox.count_after("v1", ids[39]) == 10
    assert await mailbox.clear("v1") == 50 and await mailbox.count("v1") == 0


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_old_mailbox_messages_are_pruned_oldest_first(store, clock):
    mailbox = Mailbox(store)
    for n in range(5):
        await mailbox.append(f"v{n % 2}", "bot", body_of(Reply(f"old {n}")))
    clock.advance(days=100)
    for n in range(3):
        await mailbox.append(f"v{n % 2}", "bot", body_of(Reply(f"new {n}")))
    # Two rows per transaction: two chunks of old ones, then one with a row to keep ends it.
    assert await mailbox.prune(clock.now() - timedelta(days=90), chunk=2) == 5
    kept = [json.loads(x.body)["text"] for v in ("v0", "v1") for x in await mailbox.since(v)]
    assert sorted(kept) == ["new 0", "new 1", "new 2"]
    assert await mailbox.prune(clock.now() - timedelta(days=90)) == 0


async def test_the_service_prunes_the_mailbox_when_it_starts(aiohttp_server, db_url):
    engine = create_engine(db_url)
    await migrate(engine)
    now = datetime.now(UTC)
    old = Mailbox(Store(engine, FakeClock(now - timedelta(days=31))))
    await old.append("v-old", "bot", body_of(Reply("a month old")))
    recent = Mailbox(Store(engine, FakeClock(now - timedelta(days=29))))
    await recent.append("v-recent", "bot", body_of(Reply("not a month old")))
    await engine.dispose()
    bot = await start_bot(aiohttp_server, web_settings(db_url, web_keep_days=30))
    try:
        await eventually(lambda: _count(bot.web.mailbox), what="the old message pruned")
        assert await bot.web.mailbox.count("v-recent") == 1
    finally:
        await app_module.stop(bot.app)


async def _count(mailbox: Mailbox) -> bool:
    return await mailbox.count() == 1


async def test_unread_is_counted_from_the_catch_up_when_it_holds_them_all(web_bot, monkeypatch):
    channel, mailbox = web_bot.web, web_bot.web.mailbox
    ids = [await mailbox.append("v", "bot" if n % 3 else "user", body_of(Reply(f"m{n}"))) for n in range(9)]
    for history in (200, 4):  # the whole mailbox in the catch-up, then only its newest 4
        monkeypatch.setattr(web, "HISTORY", history)
        for after in (0, ids[2], ids[6]):
            for mark in (0, ids[1], ids[4], ids[8]):
                letters = await mailbox.since("v", after, limit=history)
                counted = await channel._unread("v", after, mark, letters)
                assert counted == await mailbox.count_after("v", mark), (history, after, mark)


async def test_what_a_visitor_said_waits_for_the_answer_and_shares_its_insert(store):
    mailbox = Mailbox(store)
    inserts: list[int] = []

    def seen(_conn, _cursor, statement, params, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO WEB_MESSAGES"):
            inserts.append(statement.count("?") // 4)  # rows in this statement

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        said = mailbox.put("v", "user", '{"text": "hỏi"}', hold=60.0)  # held far longer than the test
        await asyncio.sleep(0)  # the writer starts and waits
        answer = mailbox.put("v", "bot", '{"text": "đáp"}')  # not held: written at once, with the question
        ids = await asyncio.wait_for(asyncio.gather(said, answer), 5)
        assert inserts == [2] and ids[0] < ids[1]
        alone = mailbox.put("v", "user", '{"text": "còn đó không?"}', hold=60.0)
        await asyncio.wait_for(store.flush(), 5)  # a deletion of the person's data flushes first
        assert alone.done() and inserts == [2, 1]
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
    assert [letter.sender for letter in await mailbox.since("v")] == ["user", "bot", "user"]


@pytest.mark.parametrize("db_url", BACKENDS, indirect=True)
async def test_a_batch_of_appends_takes_a_few_statements_and_keeps_its_order(store):
    # 300 at once (a broadcast's sends): a multi-row INSERT per flush, not one per row, and its compiled
    # form reused from one flush to the next (a statement SQLAlchemy cannot cache is compiled every time).
    mailbox = Mailbox(store)
    inserts: list[tuple[str, str]] = []

    def seen(_conn, _cursor, statement, _params, context, _many):
        if statement.lstrip().upper().startswith("INSERT INTO WEB_MESSAGES"):
            inserts.append((statement, str(context.cache_hit)))

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", seen)
    try:
        ids = await asyncio.gather(*(mailbox.append(f"v{n % 7}", "bot", body_of(Reply(f"m{n}")))
                                     for n in range(300)))
        ids += await asyncio.gather(*(mailbox.append(f"v{n % 7}", "bot", body_of(Reply(f"m{n}")))
                                      for n in range(300, 310)))
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", seen)
    assert ids == sorted(ids) and len(set(ids)) == 310
    assert 2 <= len(inserts) <= 4, [statement[:60] for statement, _ in inserts]
    assert inserts[-1][1].endswith("CACHE_HIT"), inserts[-1][1]
    for v in range(7):
        letters = await mailbox.since(f"v{v}", limit=310)
        assert [json.loads(x.body)["text"] for x in letters] == [f"m{n}" for n in range(v, 310, 7)]
        assert [x.id for x in letters] == [ids[n] for n in range(v, 310, 7)]
