"""`chonnghe leads list` and `chonnghe leads export [--since] [--school]`: CSV with a header row and the
canonical phone number, filters, and an audit row for every listing and export."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.cli.leads import COLUMNS
from bot.clock import FakeClock
from tests.conftest import BACKENDS

pytestmark = pytest.mark.parametrize("db_url", BACKENDS, indirect=True)


@pytest.fixture
def env(monkeypatch, db_url, content_dir):
    monkeypatch.setenv("CHONNGHE_DATABASE_URL", db_url)
    monkeypatch.setenv("CHONNGHE_CONTENT_DIR", str(content_dir))
    return db_url


def seed(db_url):
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from bot.types import UserRef

    async def go():
        engine = create_engine(db_url)
        await migrate(engine)
        clock = FakeClock(datetime(2026, 3, 1, 3, 0, tzinfo=UTC))
        store = Store(engine, clock)
        user = await store.users.touch(UserRef("telegram", "1"))
        await store.leads.add(user.id, "telegram", full_name="Nguyễn Văn An", phone="0912345678",
                              who="student", birth_year=2008, trade_id="nghe.han", call_time="morning")
        clock.set(datetime(2026, 9, 1, 3, 0, tzinfo=UTC))
        await store.leads.add(user.id, "zalo_bot", full_name="Trần Thị Bình", phone="0987654321",
                              who="parent", grade=9, trade_text="sửa điện thoại", school_id="truong.x",
                              call_time="any")
        await engine.dispose()

    asyncio.run(go())


def audit_rows(db_url) -> list[str]:
    from bot.storage.db import create_engine
    from bot.storage.models import StaffAudit

    async def go():
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(StaffAudit.channel, StaffAudit.command))).all()
        await engine.dispose()
        return rows

    return asyncio.run(go())


def test_export_and_filters(env, capsys, tmp_path):
    seed(env)
    assert main(["leads", "export"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == COLUMNS
    assert [(r[2], r[3], r[4]) for r in rows[1:]] == [("Nguyễn Văn An", "0912345678", "student"),
                                                   ("Trần Thị Bình", "0987654321", "parent")]
    assert rows[1][1] == "2026-03-01 10:00" and rows[2][8] == "sửa điện thoại"
    assert main(["leads", "export", "--since", "2026-06-01"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [r[3] for r in rows[1:]] == ["0987654321"]
    assert main(["leads", "export", "--school", "truong.x", "--output", str(tmp_path / "x.csv")]) == 0
    assert "1 registration(s)" in capsys.readouterr().err
    assert (tmp_path / "x.csv").read_text(encoding="utf-8").count("\n") == 2
    assert main(["leads", "list"]) == 0
    out = capsys.readouterr().out
    assert "Đăng ký tư vấn: 2" in out and out.index("Trần Thị Bình") < out.index("Nguyễn Văn An")
    commands = [c for ch, c in audit_rows(env) if ch == "cli"]
    assert commands == ["leads export: 2", "leads export: 1 since 2026-06-01",
                        "leads export: 1 school truong.x", "leads list: 2"]


def test_bad_date_is_refused(env, capsys):
    with pytest.raises(SystemExit):
        main(["leads", "export", "--since", "01/06/2026"])
    assert "expected a date YYYY-MM-DD" in capsys.readouterr().err


def test_yearly_report_counts_quiz_use_and_registrations(env, capsys):
    from bot.storage.db import create_engine, migrate
    from bot.storage.repo import Store
    from bot.types import UserRef

    seed(env)  # two registrations in 2026

    async def quiz_runs():
        engine = create_engine(env)
        await migrate(engine)
        store = Store(engine, FakeClock(datetime(2026, 5, 1, 3, 0, tzinfo=UTC)))
        user = await store.users.touch(UserRef("telegram", "2"))
        for top in ("RC", "RIC", None):  # two finished, one left half-way
            run = await store.quiz.start(user.id, "telegram")
            if top:
                await store.quiz.finish(run, user.id, "telegram", {"R": (6, 6)}, top)
        store.clock.set(datetime(2025, 5, 1, 3, 0, tzinfo=UTC))
        await store.quiz.start(user.id, "telegram")  # another year: not counted
        await engine.dispose()

    asyncio.run(quiz_runs())
    assert main(["report", "--year", "2026"]) == 0
    out = capsys.readouterr().out
    assert "Trắc nghiệm chọn nghề: 3 lượt bắt đầu, 2 lượt hoàn thành" in out
    assert "Kỹ thuật (R) 2, Nghiệp vụ (C) 2, Nghiên cứu (I) 1" in out
    assert "Đăng ký tư vấn: 2" in out
    assert main(["report", "--year", "2026", "--csv", "-"]) == 0
    metrics = dict(r for r in csv.reader(io.StringIO(capsys.readouterr().out)) if len(r) == 2)
    assert (metrics["quiz_started"], metrics["quiz_finished"], metrics["quiz_type_R"], metrics["leads"]) == (
        "3", "2", "2", "2")
