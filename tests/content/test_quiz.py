"""quiz.yaml, the trades' RIASEC codes and the schools' staff chats: what loads, and each mistake reported
with its file and line (small fixture folders written by the tests)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.content import Quiz, load_content
from tests.conftest import CONTENT_DIR
from tests.content.test_loader import SCHOOLS, TOPICS, write

CODES = "RIASEC"
CHOICES = """choices:
  - {id: thich, label: Thích, score: 2}
  - {id: khong_chac, label: Không chắc, score: 1}
  - {id: khong_thich, label: Không thích, score: 0}
"""
TYPES = "types:\n" + "".join(f"  - {{code: {c}, name: Nhóm {c}, explain: Giải thích nhóm {c}.}}\n" for c in CODES)


def items(per_type: int = 2) -> str:
    """The `items:` list, `per_type` statements for each type, ids r1, r2, i1..."""
    return "items:\n" + "".join(f"  - {{id: {c.lower()}{n}, type: {c}, text: Việc {c} số {n}}}\n"
                                for c in CODES for n in range(1, per_type + 1))


def quiz(choices: str = CHOICES, types: str = TYPES, body: str | None = None) -> str:
    """A whole quiz.yaml: the head (source, reviewed) is on lines 1-2, choices start on line 3."""
    return ('source: "Armstrong, Allison & Rounds (2008), public-domain RIASEC item pool"\n'
            "reviewed: 2026-12-01\n" + choices + types + (items() if body is None else body))


def trade(ident: str, riasec: str | None) -> str:
    """One trade (10 lines, then `riasec:` on the 11th when given)."""
    return (f"  - id: {ident}\n    title: Nghề {ident}\n    group: co_khi\n    summary: Tóm tắt.\n"
            "    learn: [Một việc]\n    jobs: [Một chỗ làm]\n    levels: [trung_cap]\n"
            f"    questions: [{ident} a, {ident} b, {ident} c, {ident} d, {ident} e]\n"
            "    source: Thông tư 26/2019/TT-BLĐTBXH\n    reviewed: 2026-11-22\n"
            + (f"    riasec: {riasec}\n" if riasec is not None else ""))


def trades(*codes: str | None) -> str:
    """trades.yaml with one trade per code list: nghe.han first (line 5, its riasec line 15), then nghe.t1..."""
    names = ["nghe.han"] + [f"nghe.t{i}" for i in range(1, len(codes))]
    return "groups:\n  - id: co_khi\n    label: Cơ khí\ntrades:\n" + "".join(
        trade(n, c) for n, c in zip(names, codes, strict=True))


ALL_TYPES = ("[R, I]", "[A, S]", "[E, C]")


def folder(tmp_path: Path, name: str = "base", **files: str) -> Path:
    """A content folder: topics, one school, trades covering every type and quiz.yaml unless overridden."""
    defaults = {"topics.yaml": TOPICS, "schools.yaml": SCHOOLS, "trades.yaml": trades(*ALL_TYPES),
                "quiz.yaml": quiz()}
    defaults.update({k.replace("_", "."): v for k, v in files.items()})
    return write(tmp_path / name, {k: v for k, v in defaults.items() if v is not None})


def problems(root: Path) -> list[str]:
    return [str(p) for p in load_content(root, today=date(2026, 12, 1)).problems]


def test_a_valid_quiz_loads_frozen_with_the_trades_codes(tmp_path):
    base = load_content(folder(tmp_path), today=date(2026, 12, 1))
    assert base.ok and base.problems == [], base.problems
    assert isinstance(base.quiz, Quiz)
    assert [c.id for c in base.quiz.choices] == ["thich", "khong_chac", "khong_thich"]
    assert [c.score for c in base.quiz.choices] == [2, 1, 0]
    assert "".join(t.code for t in base.quiz.types) == CODES
    assert len(base.quiz.items) == 12 and [i.id for i in base.quiz.items_of("R")] == ["r1", "r2"]
    assert base.quiz.type("S").name == "Nhóm S"
    assert base.quiz.choice("khong_chac").score == 1 and base.quiz.choice("co") is None
    assert base.trades["nghe.han"].riasec == ("R", "I")
    assert [t.id for t in base.trades_of_type("S")] == ["nghe.t1"]
    with pytest.raises(ValueError):
        base.quiz.items[0].text = "khác"  # frozen


def test_without_quiz_file_no_quiz_and_codes_optional(tmp_path):
    base = load_content(folder(tmp_path, quiz_yaml=None, trades_yaml=trades(None, "[S]")))
    assert base.ok, base.problems
    assert base.quiz is None
    assert base.trades["nghe.han"].riasec == () and base.trades["nghe.t1"].riasec == ("S",)


def test_with_quiz_file_every_trade_needs_codes(tmp_path):
    root = folder(tmp_path, trades_yaml=trades(*ALL_TYPES, None))
    found = problems(root)
    assert any(p.startswith("trades.yaml:38: error: missing field 'riasec'") for p in found), found


@pytest.mark.parametrize("codes", ["[R, R]", "[X]", "[R, I, A, S]", "[]", "RI", "[r, 1]"])
def test_bad_riasec_codes_reported_at_their_line(tmp_path, codes):
    found = problems(folder(tmp_path, trades_yaml=trades(codes, "[R, I, A]", "[S, E, C]")))
    assert any(p.startswith("trades.yaml:15: error: 'riasec' must be a list of 1 to 3 distinct codes")
               for p in found), found


def test_lower_case_codes_are_accepted_as_upper_case(tmp_path):
    base = load_content(folder(tmp_path, trades_yaml=trades("[r, i]", "[A, S]", "[E, C]")))
    assert base.ok and base.trades["nghe.han"].riasec == ("R", "I")


def test_a_type_no_trade_covers_is_a_warning(tmp_path):
    base = load_content(folder(tmp_path, trades_yaml=trades("[R, I]", "[A, S]", "[E]")))
    assert base.ok and base.quiz is not None
    assert [str(p) for p in base.problems] == [
        "quiz.yaml:13: warning: no trade in trades.yaml has RIASEC type 'C' (Nhóm C); "
        "the quiz cannot suggest a trade for it"]


def one_problem(tmp_path, text: str) -> list[str]:
    base = load_content(folder(tmp_path, quiz_yaml=text))
    assert base.quiz is None
    return [str(p) for p in base.problems if p.file == "quiz.yaml"]


def test_types_must_be_the_six_codes_each_once(tmp_path):
    five = TYPES.replace("  - {code: C, name: Nhóm C, explain: Giải thích nhóm C.}\n",
                         "  - {code: E, name: Nhóm E2, explain: Lại E.}\n")
    found = one_problem(tmp_path, quiz(types=five, body=items().replace("type: C", "type: E")))
    assert "quiz.yaml:13: error: type 'E' listed twice" in found, found
    assert any(p.startswith("quiz.yaml:7: error: 'types' must hold exactly the six codes") and "C" in p
               for p in found), found


def test_unknown_type_code_points_at_its_line(tmp_path):
    found = one_problem(tmp_path, quiz(body=items().replace("{id: a1, type: A,", "{id: a1, type: X,")))
    assert found == ["quiz.yaml:19: error: type 'X' must be one of R, I, A, S, E, C"], found


def test_every_type_has_the_same_number_of_items(tmp_path):
    body = items() + "  - {id: r3, type: R, text: Việc R số 3}\n"
    assert one_problem(tmp_path, quiz(body=body)) == [
        "quiz.yaml:14: error: every type needs the same number of items (R: 3, I: 2, A: 2, S: 2, E: 2, C: 2)"]


@pytest.mark.parametrize(("per_type", "count"), [(1, 6), (4, 24)])
def test_twelve_to_eighteen_items(tmp_path, per_type, count):
    found = one_problem(tmp_path, quiz(body=items(per_type)))
    assert found == [f"quiz.yaml:14: error: 'items' has {count} item(s) (12 to 18)"], found


def test_item_ids_unique_short_and_simple(tmp_path):
    body = items().replace("{id: i2,", "{id: i1,").replace("{id: s1,", "{id: so_thich1,")
    found = one_problem(tmp_path, quiz(body=body))
    assert "quiz.yaml:18: error: item id 'i1' listed twice" not in found  # the type check reports first
    assert found == ["quiz.yaml:21: error: id 'so_thich1' must be 1 to 8 characters a-z, 0-9, '_'"], found
    found = one_problem(tmp_path, quiz(body=items().replace("{id: i2,", "{id: i1,")))
    assert found == ["quiz.yaml:18: error: item id 'i1' listed twice"], found


def test_item_texts_non_empty_and_short(tmp_path):
    long = "Sửa " * 23  # 92 characters, stripped
    body = items().replace("text: Việc R số 1", f"text: {long.strip()}").replace("text: Việc E số 2", "text: ''")
    found = one_problem(tmp_path, quiz(body=body))
    assert found == ["quiz.yaml:15: error: 'text' is 91 characters (at most 90)",
                     "quiz.yaml:24: error: 'text' must be non-empty text"], found


@pytest.mark.parametrize(("choices", "expected"), [
    ("choices:\n  - {id: co, label: Có, score: 1}\n", "quiz.yaml:3: error: 'choices' has 1 item(s) (2 to 5)"),
    ("choices:\n" + "".join(f"  - {{id: c{i}, label: C{i}, score: {i}}}\n" for i in range(6)),
     "quiz.yaml:3: error: 'choices' has 6 item(s) (2 to 5)"),
    ("choices:\n  - {id: co, label: Có, score: 1}\n  - {id: co, label: Không, score: 0}\n",
     "quiz.yaml:5: error: choice id 'co' listed twice"),
    ("choices:\n  - {id: co, label: Có, score: '2'}\n  - {id: khong, label: Không, score: 0}\n",
     "quiz.yaml:4: error: 'score' must be an integer (got '2')"),
    ("choices:\n  - {id: co, label: Có, score: 1.5}\n  - {id: khong, label: Không, score: 0}\n",
     "quiz.yaml:4: error: 'score' must be an integer (got 1.5)"),
    ("choices:\n  - {id: co, label: Có}\n  - {id: khong, label: Không, score: 0}\n",
     "quiz.yaml:4: error: missing field 'score'"),
])
def test_choices(tmp_path, choices, expected):
    found = one_problem(tmp_path, quiz(choices=choices))
    assert expected in found, found


def test_structure_problems(tmp_path):
    assert one_problem(tmp_path, "- a\n") == [
        "quiz.yaml:1: error: expected a mapping with source, reviewed, choices, types and items"]
    text = quiz().replace('source: "Armstrong, Allison & Rounds (2008), public-domain RIASEC item pool"\n', "")
    text = text.replace("reviewed: 2026-12-01", "reviewed: mai\ncolour: red")
    found = one_problem(tmp_path, text + "types_extra: 1\n")
    assert found == ["quiz.yaml:1: error: missing field 'source'",
                     "quiz.yaml:1: error: 'reviewed' must be a date YYYY-MM-DD (got 'mai')",
                     "quiz.yaml:2: warning: unknown field 'colour'",
                     "quiz.yaml:27: warning: unknown field 'types_extra'"], found
    found = one_problem(tmp_path, quiz(types="types: R\n"))
    assert found == ["quiz.yaml:7: error: 'types' must be a list of mappings"], found


def test_unknown_keys_in_items_are_warnings(tmp_path):
    base = load_content(folder(tmp_path, quiz_yaml=quiz(body=items().replace("text: Việc C số 2}",
                                                                              "text: Việc C số 2, hint: x}"))))
    assert base.ok and base.quiz is not None
    assert [str(p) for p in base.problems] == ["quiz.yaml:26: warning: unknown field 'hint'"]


def test_school_staff_chat_id(tmp_path):
    schools = SCHOOLS + ("  - id: truong.b\n    name: Trường B\n    former_province: hai_duong\n"
                         "    levels: [trung_cap]\n    staff_chat_id: -1001234567890\n"
                         "    source: https://example.invalid/b\n    reviewed: 2026-11-22\n"
                         "  - id: truong.c\n    name: Trường C\n    former_province: hai_duong\n"
                         "    levels: [trung_cap]\n    staff_chat_id: nhom_truong_c\n"
                         "    source: https://example.invalid/c\n    reviewed: 2026-11-22\n")
    base = load_content(folder(tmp_path, schools_yaml=schools))
    assert base.schools["truong.a"].staff_chat_id is None
    assert base.schools["truong.b"].staff_chat_id == "-1001234567890"
    assert base.schools["truong.c"].staff_chat_id is None and "truong.c" in base.schools
    assert [str(p) for p in base.errors] == [
        "schools.yaml:20: error: 'staff_chat_id' must be a Telegram chat id, an integer such as -1001234567890 "
        "(got 'nhom_truong_c')"]


def test_the_shipped_quiz_loads_and_every_trade_has_codes():
    base = load_content(CONTENT_DIR, today=date(2026, 12, 1))
    assert [str(p) for p in base.problems if p.file in ("quiz.yaml", "trades.yaml")] == []
    assert base.quiz is not None and 12 <= len(base.quiz.items) <= 18
    assert all(1 <= len(t.riasec) <= 3 for t in base.trades.values())
    assert {c for t in base.trades.values() for c in t.riasec} == set(CODES)
