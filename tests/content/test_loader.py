"""The content loader reports every problem with its file and line; good content loads completely."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.content import ContentError, load_content
from bot.content.holder import ContentHolder


def faq(ident: str, extra: str = "", answer: str = "Trả lời.") -> str:
    """One FAQ entry as YAML text (list item indented under `entries:`)."""
    return (
        f"\n  - id: {ident}\n"
        f"    title: Tiêu đề {ident}\n"
        "    questions:\n"
        "      - câu hỏi một\n      - cau hoi hai\n      - câu hỏi ba ạ\n"
        "      - hỏi bốn\n      - hoi nam nhe\n"
        f'    answer: "{answer}"\n'
        "    source: Luật Giáo dục nghề nghiệp 2014\n"
        "    reviewed: 2026-11-22\n" + (extra + "\n" if extra else "")
    )


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


TOPICS = "topics:\n  - id: tuyen_sinh\n    label: Tin tuyển sinh\n"
TRADES = """groups:
  - id: co_khi
    label: Cơ khí
trades:
  - id: nghe.han
    title: Nghề Hàn
    group: co_khi
    summary: Nối kim loại.
    learn: [Hàn hồ quang]
    jobs: [Nhà máy đóng tàu]
    suits: Người khỏe mạnh.
    levels: [so_cap, trung_cap]
    questions: [hoc han, nghề hàn, thợ hàn, han o dau, hàn là gì]
    source: Thông tư 26/2019/TT-BLĐTBXH
    reviewed: 2026-11-22
"""
SCHOOLS = """schools:
  - id: truong.a
    name: Trường Cao đẳng A
    former_province: hai_phong
    levels: [cao_dang]
    trades: [nghe.han]
    source: https://example.invalid/a
    reviewed: 2026-11-22
"""


@pytest.fixture
def good(tmp_path) -> Path:
    return write(tmp_path / "good", {
        "faq/a.yaml": "entries:" + faq("a.one", "    related: [a.two, nghe.han]") + faq("a.two"),
        "topics.yaml": TOPICS, "trades.yaml": TRADES, "schools.yaml": SCHOOLS,
    })


def test_good_content_loads(good):
    base = load_content(good, today=date(2026, 11, 22))
    assert base.ok, base.problems
    assert set(base.entries) == {"a.one", "a.two", "nghe.han"}
    assert base.entries["a.one"].related == ("a.two", "nghe.han")
    trade = base.entries["nghe.han"]
    assert trade.kind == "trade" and "Trường Cao đẳng A" in trade.answer and "Trung cấp" in trade.answer
    assert [s.id for s in base.schools_for("nghe.han")] == ["truong.a"]
    assert base.topics["tuyen_sinh"].label == "Tin tuyển sinh"


def problems_of(root: Path) -> list[str]:
    return [str(p) for p in load_content(root, today=date(2026, 11, 22)).problems]


def test_yaml_error_has_file_and_line(good):
    (good / "faq/b.yaml").write_text("entries:\n  - id: x\n    title: [unclosed\n", encoding="utf-8")
    found = problems_of(good)
    assert any(p.startswith("faq/b.yaml:") and "YAML error" in p for p in found), found


def test_missing_field_reported_with_line(good):
    text = "entries:" + faq("b.one").replace("    source: Luật Giáo dục nghề nghiệp 2014\n", "")
    (good / "faq/b.yaml").write_text(text, encoding="utf-8")
    assert "faq/b.yaml:2: error: missing field 'source'" in problems_of(good)


def test_duplicate_id_names_both_places(good):
    (good / "faq/b.yaml").write_text("entries:" + faq("a.one"), encoding="utf-8")
    found = problems_of(good)
    assert any(p.startswith("faq/b.yaml:2: error: duplicate id 'a.one' (first defined at faq/a.yaml:2)")
               for p in found), found


def test_broken_related_link(good):
    (good / "faq/b.yaml").write_text("entries:" + faq("b.one", "    related: [nowhere]"), encoding="utf-8")
    assert any("related id 'nowhere' does not exist" in p for p in problems_of(good))


def test_too_long_answer_and_too_few_questions(good):
    long = "Dài " * 600
    text = "entries:" + faq("b.one", answer=long).replace("      - hoi nam nhe\n", "")
    (good / "faq/b.yaml").write_text(text, encoding="utf-8")
    found = problems_of(good)
    assert any("'answer' is" in p and "at most 1800" in p for p in found), found
    assert any("'questions' has 4 item(s) (at least 5)" in p for p in found), found


def test_expired_entry_is_flagged_and_not_served(good):
    (good / "faq/b.yaml").write_text(
        "entries:" + faq("b.one", "    valid_until: 2026-01-31"), encoding="utf-8"
    )
    base = load_content(good, today=date(2026, 11, 22))
    assert base.ok  # a warning, not an error
    assert "b.one" not in base.entries and "b.one" in base.expired
    assert any(p.severity == "warning" and "expired" in p.message for p in base.problems)


def test_school_with_unknown_trade(good):
    (good / "schools.yaml").write_text(SCHOOLS.replace("[nghe.han]", "[nghe.bay]"), encoding="utf-8")
    assert any("unknown trade 'nghe.bay'" in p for p in problems_of(good))


def test_duplicate_yaml_key(good):
    (good / "faq/b.yaml").write_text("entries:" + faq("b.one", "    title: again"), encoding="utf-8")
    assert any("duplicate key 'title'" in p for p in problems_of(good))


def test_not_utf8(good):
    (good / "faq/b.yaml").write_bytes("entries: []\n# h\xe0\n".encode("latin-1"))
    assert any(p.startswith("faq/b.yaml:0: error: cannot read file") for p in problems_of(good))


def test_reload_keeps_previous_content_on_errors(good):
    holder = ContentHolder(good)
    before = holder.base
    (good / "faq/a.yaml").write_text("entries:\n  - id: [broken\n", encoding="utf-8")
    with pytest.raises(ContentError):
        holder.reload()
    assert holder.base is before and "a.one" in holder.base.entries


def test_content_check_command(good, capsys):
    assert main(["content", "check", "--content", str(good)]) == 0
    assert "0 error(s)" in capsys.readouterr().out
    (good / "faq/b.yaml").write_text("entries:" + faq("a.one"), encoding="utf-8")
    assert main(["content", "check", "--content", str(good)]) == 1
    out = capsys.readouterr().out
    assert "faq/b.yaml:2: error: duplicate id 'a.one'" in out and "1 error(s)" in out


def test_trade_without_school_says_whom_to_ask(good):
    (good / "schools.yaml").write_text(SCHOOLS.replace("[nghe.han]", "[]"), encoding="utf-8")
    answer = load_content(good).entries["nghe.han"].answer
    assert answer.endswith("Bạn hãy hỏi tư vấn viên (gõ /tuvan) để được hướng dẫn.")
    assert "đang được cập nhật" not in answer
    (good / "texts.yaml").write_text('texts:\n  trade_no_school: "Hỏi thầy cô chủ nhiệm hoặc gõ /tuvan."\n',
                                     encoding="utf-8")
    assert load_content(good).entries["nghe.han"].answer.endswith("\n\nHỏi thầy cô chủ nhiệm hoặc gõ /tuvan.")


def test_the_texts_catalogue_lives_on_the_base_and_changes_on_reload(good):
    from bot.content.texts import texts_for

    holder = ContentHolder(good)
    first = holder.base.texts
    assert first is not None and texts_for(holder.base) is first and texts_for(holder.base) is first
    assert first("who_are_you") == "Bạn là ai?"
    (good / "texts.yaml").write_text('texts:\n  who_are_you: "Bạn là ai nhỉ?"\n', encoding="utf-8")
    holder.reload()
    assert texts_for(holder.base) is holder.base.texts is not first
    assert holder.base.texts("who_are_you") == "Bạn là ai nhỉ?"


def test_validation_errors_point_at_the_offending_key(good):
    text = "entries:" + faq("b.one").replace("    reviewed: 2026-11-22\n", "    reviewed: [2026]\n")
    (good / "faq/b.yaml").write_text(text, encoding="utf-8")
    assert "faq/b.yaml:12: error: 'reviewed' must be a date YYYY-MM-DD (got [2026])" in problems_of(good)


def test_texts_overrides_the_catalogue_cannot_use_are_warnings_with_lines(good):
    (good / "texts.yaml").write_text(
        "texts:\n"
        '  who_are_you: "Bạn là ai nhỉ?"\n'
        '  no_such_text: "x"\n'
        '  welcome_back: "Thiếu chỗ điền"\n'
        '  role_saved: "Ngoặc {role"\n'
        "buttons: [menu]\n"
        "office_hours: {days: [1, 9], start: '07:30', end: '17:00'}\n"
        "examples: 5\n", encoding="utf-8")
    base = load_content(good)
    assert base.ok
    assert [str(p) for p in base.problems] == [
        "texts.yaml:3: warning: unknown texts key 'no_such_text' ignored",
        "texts.yaml:4: warning: texts.welcome_back must use exactly the placeholders ['role']; default kept",
        "texts.yaml:5: warning: texts.role_saved must use exactly the placeholders ['role']; default kept",
        "texts.yaml:6: warning: 'buttons' must be a mapping; ignored",
        "texts.yaml:7: warning: office_hours.days must list days 0 (Monday) to 6 (Sunday)",
        "texts.yaml:8: warning: 'examples' must be a list of non-empty texts; the defaults are used"]
    assert base.texts("who_are_you") == "Bạn là ai nhỉ?"
    assert base.texts("role_saved", role="Phụ huynh") == "Cảm ơn bạn! Mình đã ghi nhận: Phụ huynh."


def test_questions_on_other_subjects_load_and_bad_ones_are_reported(good):
    assert load_content(good).others == ()  # the file is optional
    (good / "other_subjects.yaml").write_text(
        "questions:\n  - điểm chuẩn đại học\n  - vay tiền mua nhà\n  - Điểm chuẩn  đại học\n",
        encoding="utf-8")
    base = load_content(good, today=date(2026, 11, 22))
    assert base.ok and base.others == ("điểm chuẩn đại học", "vay tiền mua nhà", "Điểm chuẩn  đại học")
    assert any(p.file == "other_subjects.yaml" and "listed twice" in p.message for p in base.problems)
    for text, expected in (("questions:\n  - ''\n", "'questions' must be a list"),
                           ("questions: []\n", "'questions' has 0 item(s)"),
                           ("- a\n", "expected a mapping")):
        (good / "other_subjects.yaml").write_text(text, encoding="utf-8")
        found = problems_of(good)
        assert any(p.startswith(f"other_subjects.yaml:1: error: {expected}") for p in found), found
