"""The staff CLI: broadcast create/list/show/approve/edit/cancel/export, calendar show, report."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from bot.cli import main
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


@pytest.fixture
def env(monkeypatch, db_url, content_dir):
    monkeypatch.setenv("CHONNGHE_DATABASE_URL", db_url)
    monkeypatch.setenv("CHONNGHE_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("CHONNGHE_QUIET_HOURS", "")  # the wall clock may be at night
    return db_url


def seed(db_url, count=3, topic="tuyen_sinh"):
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from tests.scheduler.conftest import add_subscribers

    async def go():
        engine = create_engine(db_url)
        await migrate(engine)
        await add_subscribers(Store(engine), count, topic=topic)
        await engine.dispose()

    asyncio.run(go())


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_create_show_list_cancel(env, capsys):
    seed(env)
    code, out, err = run(
        capsys,
        "broadcast",
        "create",
        "--text",
        "Chào mùa tuyển sinh",
        "--topic",
        "tuyen_sinh",
        "--at",
        "2031-05-25 09:00",
    )
    assert code == 0, err
    bid = int(out.strip())
    assert "2031-05-25 09:00" in err
    code, out, _ = run(capsys, "broadcast", "show", str(bid), "--json")
    data = json.loads(out)
    assert data["id"] == bid and data["status"] == "scheduled" and data["counts"] == {} and data["total"] == 0
    assert data["channels"] == {}
    code, out, _ = run(capsys, "broadcast", "list")
    assert f"{bid:>5}  scheduled" in out
    code, out, _ = run(capsys, "broadcast", "cancel", str(bid))
    assert code == 0 and "cancelled" in out
    code, _, err = run(capsys, "broadcast", "cancel", str(bid))
    assert code == 1 and "không thể hủy" in err and "already cancelled" in err


@pytest.mark.parametrize(("args", "fragment"), [
    (["--text", "", "--topic", "tuyen_sinh"], "the text is empty"),
    (["--text", "x" * 4001, "--topic", "tuyen_sinh"], "at most 4000"),
    (["--text", "a", "--topic", "khong_co"], "unknown topic"),
    (["--text", "a", "--topic", "tuyen_sinh", "--at", "2020-01-01 09:00"], "in the past"),
    (["--text", "a", "--topic", "viec_lam"], "audience is empty"),
    (["--text", "a", "--topic", "tuyen_sinh", "--at", "mai"], "cannot read the time"),
    (["--text", "a", "--topic", "tuyen_sinh", "--link", "no-url"], "--link must be"),
])
def test_bad_input_exits_non_zero_with_a_clear_message(env, capsys, args, fragment):
    seed(env)
    code, out, err = run(capsys, "broadcast", "create", *args)
    assert code == 1 and out == "" and fragment in err


def test_quiet_hours_refused_or_moved(env, capsys, monkeypatch):
    monkeypatch.setenv("CHONNGHE_QUIET_HOURS", "21:00-07:00")
    seed(env)
    code, _, err = run(capsys, "broadcast", "create", "--text", "a", "--topic", "tuyen_sinh",
                       "--at", "2031-05-25 22:00")
    assert code == 1 and "giờ yên tĩnh" in err and "--move-out-of-quiet-hours" in err
    code, _, err = run(capsys, "broadcast", "create", "--text", "a", "--topic", "tuyen_sinh",
                       "--at", "2031-05-25 22:00", "--move-out-of-quiet-hours")
    assert code == 0 and "moved to 2031-05-26 07:00" in err


def test_calendar_show_sync_and_approve(env, capsys):
    seed(env, topic="su_kien")
    code, out, _ = run(capsys, "calendar", "show", "--year", "2031")
    assert code == 0 and "2031-10-02 09:00" in out and "Ngày Kỹ năng lao động Việt Nam" in out
    assert "ngày do cán bộ đặt" in out
    code, out, _ = run(capsys, "calendar", "sync")
    assert code == 0 and "new draft" in out
    code, out, _ = run(capsys, "calendar", "sync")
    assert out.startswith("0 new draft")
    code, out, _ = run(capsys, "broadcast", "list")
    undated = next(line for line in out.splitlines() if "Tuần lễ Kỹ năng nghề" in line)
    bid = undated.split()[0]
    code, _, err = run(capsys, "broadcast", "approve", bid)
    assert code == 1 and "no send time" in err
    code, out, err = run(capsys, "broadcast", "approve", bid, "--at", "2031-11-10 09:00")
    assert code == 0, err
    code, out, _ = run(capsys, "broadcast", "edit", bid, "--text", "Nội dung đã sửa")
    assert code == 0
    code, out, _ = run(capsys, "broadcast", "show", bid)
    assert "scheduled" in out and "Nội dung đã sửa" in out


def test_export_and_report(env, capsys, tmp_path):
    from datetime import UTC, datetime, timedelta

    from bot.clock import FakeClock
    from bot.storage.db import create_engine
    from bot.storage.repo import Store
    from scheduler.store import BroadcastStore, Outcome

    seed(env, count=4)

    async def send_one() -> int:
        engine = create_engine(env)
        store = Store(engine, FakeClock(datetime(2031, 10, 2, 2, 0, tzinfo=UTC)))
        bstore = BroadcastStore(store)
        row = await bstore.create(
            text="Tin", topics=["tuyen_sinh"], status="scheduled", send_at=store.clock.now()
        )
        await bstore.start_sending(row.id)
        claimed = await bstore.claim("w", 10, lease=timedelta(minutes=1))
        outcomes = [
            Outcome(c.id, "sent", message_id="9", at=store.clock.now(), attempts=1) for c in claimed[:3]
        ]
        outcomes.append(Outcome(claimed[3].id, "blocked", error="Forbidden", attempts=1))
        await bstore.apply("w", [c.id for c in claimed], outcomes, lease=timedelta(minutes=1))
        assert await bstore.finish_if_complete(row.id) == "done"
        # Questions: two in October (one answered), one in March, one the year before (not counted).
        for month, answered in ((10, True), (10, False), (3, True)):
            store.clock.set(datetime(2031, month, 5, 3, 0, tzinfo=UTC))
            await store.questions.log(None, "telegram", "hỏi", "hoi", None, 0.5, answered)
        store.clock.set(datetime(2030, 12, 31, 3, 0, tzinfo=UTC))
        await store.questions.log(None, "telegram", "hỏi", "hoi", None, 0.5, True)
        await engine.dispose()
        return row.id

    bid = asyncio.run(send_one())
    code, out, _ = run(capsys, "broadcast", "show", str(bid), "--json")
    data = json.loads(out)
    assert data["status"] == "done" and data["counts"] == {"sent": 3, "blocked": 1} and data["total"] == 4
    assert data["channels"] == {"telegram": {"sent": 3, "blocked": 1}}
    code, _, err = run(capsys, "broadcast", "cancel", str(bid))  # a finished broadcast: a clear refusal
    assert code == 1 and "đã gửi xong, không thể hủy" in err and "already done" in err
    code, out, _ = run(capsys, "broadcast", "export", str(bid))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 4
    assert sorted(r["status"] for r in rows) == ["blocked", "sent", "sent", "sent"]
    assert rows[0]["sent_at"].startswith("2031-10-02T09:00")
    target = tmp_path / "r.csv"
    code, out, _ = run(capsys, "report", "--year", "2031", "--csv", str(target))
    assert code == 0
    assert "Tin đã gửi (broadcast có ít nhất một người nhận): 1" in out and "180" in out
    assert "Lượt gửi thành công: 3" in out and "Chặn bot / không còn liên lạc được: 1" in out
    assert any(line.split()[:4] == ["10", "tuyen_sinh", "telegram", "1"] for line in out.splitlines())
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "month,topic,channel,broadcasts,sent,blocked,failed,skipped,unknown"
    assert lines[1] == "2031-10,tuyen_sinh,telegram,1,3,1,0,0,0"
    assert "items_sent,1" in lines and "yearly_target,180" in lines
    assert "questions_asked,3" in lines and "questions_answered,2" in lines and "reach,3" in lines
    assert "Câu hỏi nhận được: 3; bot trả lời được: 2 (67%)" in out
    assert "  03: 1 / 1" in out and "  10: 2 / 1" in out
    assert "mục tiêu ít nhất 180" in out and "0,6%" in out  # 1 item of the 180 a year
    code, out, _ = run(capsys, "report", "--year", "2031", "--csv", "-")
    assert code == 0 and out.splitlines()[:2] == lines[:2] and "BÁO CÁO" not in out
    code, out, _ = run(capsys, "report", "--year", "2029")
    assert code == 0 and "Chưa có tin nào được gửi trong năm." in out and "0,0%" in out
    code, _, err = run(capsys, "broadcast", "export", "999")
    assert code == 1 and "no broadcast 999" in err


def test_promotion_warns_when_zalo_limits_would_be_exceeded(env, capsys, monkeypatch):
    from datetime import timedelta

    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from scheduler.store import BroadcastStore, Outcome
    from tests.scheduler.conftest import add_subscribers

    monkeypatch.setenv("CHONNGHE_ZALO_OA_PROMO_PER_DAY", "1")

    async def promo_sent_today():
        engine = create_engine(env)
        await migrate(engine)
        store = Store(engine)
        await add_subscribers(store, 2)
        await add_subscribers(store, 3, channel="zalo_oa", start=1000)
        bstore = BroadcastStore(store)
        row = await bstore.create(text="Ưu đãi", topics=["tuyen_sinh"], status="scheduled",
                                  send_at=store.clock.now(), promotion=True)
        await bstore.start_sending(row.id)
        claimed = [
            c for c in await bstore.claim("w", 10, lease=timedelta(minutes=1)) if c.channel == "zalo_oa"
        ]
        await bstore.apply("w", [c.id for c in claimed], [
            *(Outcome(c.id, "sent", at=store.clock.now(), attempts=1) for c in claimed[:2]),
            Outcome(claimed[2].id, "failed", error="x", attempts=1)],  # not delivered: does not count
            lease=timedelta(minutes=1))
        await engine.dispose()

    asyncio.run(promo_sent_today())
    code, out, err = run(
        capsys, "broadcast", "create", "--text", "Học bổng", "--topic", "tuyen_sinh", "--promotion"
    )
    assert code == 0, err
    bid = int(out)
    assert "a Zalo OA promotion" in err
    assert "reach now: 3 of 5 (telegram 2, zalo_oa 1/3)" in err
    assert (
        "warning: ⚠️ Tin quảng bá vượt giới hạn của Zalo OA" in err and "2 recipient(s) will be skipped" in err
    )
    code, out, _ = run(capsys, "broadcast", "show", str(bid), "--json")
    assert json.loads(out)["promotion"] is True
    code, out, err = run(capsys, "broadcast", "create", "--text", "Thông báo", "--topic", "tuyen_sinh")
    assert code == 0 and "reach now: 5 of 5 (telegram 2, zalo_oa 3)" in err and "warning" not in err
    code, out, err = run(capsys, "broadcast", "edit", out.strip(), "--promotion")
    assert code == 0 and "2 recipient(s) will be skipped" in err
