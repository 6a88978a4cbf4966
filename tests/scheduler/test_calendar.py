"""content/campaigns.yaml: the repository's calendar is valid and says what the plans say; mistakes
are reported with file and line by `chonnghe content check`."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.cli import main
from bot.content import load_content
from scheduler.calendar import occurrences

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def test_repository_calendar_is_valid(content_dir):
    base = load_content(content_dir)
    assert [p for p in base.problems if p.file == "campaigns.yaml"] == []
    ids = {c.id for c in base.campaigns}
    assert ids == {
        "ngay_ky_nang_lao_dong",
        "ngay_hoi_tu_van_tuyen_sinh",
        "mua_tuyen_sinh",
        "tuan_le_ky_nang_nghe",
    }


def test_skills_day_and_enrollment_season_dates(content_dir):
    base = load_content(content_dir)
    occs = {o.key: o for o in occurrences(base.campaigns, 2027, ZONE)}
    greet = occs["ngay_ky_nang_lao_dong.chao_mung:2027"]
    assert greet.send_at.astimezone(ZONE).strftime("%d/%m %H:%M") == "02/10 09:00"
    assert greet.text.startswith("Chào mừng Ngày Kỹ năng lao động Việt Nam 04/10")
    assert "1486/QĐ-TTg" in greet.text
    assert occs["ngay_ky_nang_lao_dong.ngay_04_10:2027"].send_at.astimezone(ZONE).strftime("%d/%m") == "04/10"
    season = sorted(o.send_at.astimezone(ZONE) for o in occs.values() if o.campaign.id == "mua_tuyen_sinh")
    assert season[0].strftime("%d/%m") == "25/05" and season[-1].month == 8 and len(season) >= 4
    assert occs["tuan_le_ky_nang_nghe.thong_bao:2027"].send_at is None  # staff set the date
    assert "năm 2027" in occs["mua_tuyen_sinh.mo_dau:2027"].text


BROKEN = """\
campaigns:
  - id: hoi_cho
    name: Hội chợ
    topic: khong_co
    source: x
    reviewed: 2026-11-22
    messages:
      - id: a
        date: "30/02"
        time: "09:00"
        text: "Năm {nam}"
      - id: b
        text: "Không có ngày"
"""


def test_mistakes_are_reported_with_line(content_dir, capsys, monkeypatch):
    (content_dir / "campaigns.yaml").write_text(BROKEN, encoding="utf-8")
    base = load_content(content_dir)
    found = {(p.line, p.message.split(" (")[0]) for p in base.problems if p.file == "campaigns.yaml"}
    assert (4, "unknown topic 'khong_co'") in found
    assert any(line == 9 and "DD/MM" in msg for line, msg in found)
    assert any(line == 11 and "placeholder" in msg for line, msg in found)
    assert any(line == 12 and "needs a 'note'" in msg for line, msg in found)
    assert not base.ok
    monkeypatch.setenv("CHONNGHE_CONTENT_DIR", str(content_dir))
    assert main(["content", "check"]) == 1
    out = capsys.readouterr().out
    assert "campaigns.yaml:4: error: unknown topic 'khong_co'" in out
