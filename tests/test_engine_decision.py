"""The answer engine's decision: fitted on the content by cross-validation, explained, and cached; and
the cross-validation measure itself."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from datetime import date

import pytest

from bot.content import Entry, load_content
from bot.engine import AnswerEngine, core, tokens
from bot.engine.crossval import cross_validate, folds_of, report
from tests.conftest import CONTENT_DIR


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return list(load_content(CONTENT_DIR).entries.values())


@pytest.fixture(scope="module")
def shipped(entries) -> AnswerEngine:
    return AnswerEngine.build(entries, others=load_content(CONTENT_DIR).others)  # as production builds it


def test_the_shipped_content_gets_a_fitted_decision(shipped):
    d = shipped.decision
    assert d.fitted and 0.0 < d.floor <= d.threshold < 1.0


def test_questions_on_other_subjects_teach_the_decision_to_decline(entries):
    # "đăng ký ... giấy tờ gì" is the documents entry's wording; marriage is another subject. The
    # shipped other_subjects.yaml has questions like it (not this one): how close a question is to
    # the closest of them is a signal the decision is fitted on, with them asked as out of scope.
    others = load_content(CONTENT_DIR).others
    assert len(others) >= 100
    with_others = AnswerEngine.build(entries, others=others)
    q = "cho mình hỏi đăng ký kết hôn thì cần mang giấy tờ gì"
    assert q not in others and with_others.rank(q).other > 0.5
    assert with_others.answer(q).id is None and AnswerEngine.build(entries).answer(q).id == "tuyensinh.ho_so"
    # A question of the content stays answered, and its closeness to other subjects is low.
    assert with_others.answer("hồ sơ nhập học trường nghề gồm những gì").id == "tuyensinh.ho_so"
    assert with_others.rank("hồ sơ nhập học trường nghề gồm những gì").other < 0.5


def test_a_question_listed_on_another_subject_is_declined_whatever_the_fit(entries):
    # Staff record a wrongly answered question as another subject (the console's gaps page): the fitted
    # signal alone may not outweigh a close example, but a question (nearly) word for word a listed one,
    # and closer to it than to any example of its best entry, is declined.
    others = load_content(CONTENT_DIR).others
    q = "đăng ký nghĩa vụ quân sự ở đâu vậy ad"
    assert AnswerEngine.build(entries, others=others).answer(q).id == "chinhsach.bo_doi_xuat_ngu"
    m = AnswerEngine.build(entries, others=(*others, q)).answer(q)
    assert m.id is None and m.reason == "declined: a question on another subject"
    assert m.candidates[0][0] == "chinhsach.bo_doi_xuat_ngu"  # still suggested: the person may mean it


def test_a_small_base_keeps_the_hand_set_rule():
    few = [Entry(f"x.e{i}", "faq", f"chủ đề {i}", (f"câu hỏi {i}", f"hỏi thêm {i}"), "a", "s",
                 date(2026, 1, 1))
           for i in range(5)]
    assert not AnswerEngine.build(few).decision.fitted


def test_the_fitted_decision_is_cached_on_disk(tmp_path, monkeypatch, entries):
    monkeypatch.setenv("CHONNGHE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(core, "_FIT_CACHE", {})
    first = AnswerEngine.build(entries).decision
    files = list((tmp_path / "engine").glob("*.json"))
    assert len(files) == 1
    monkeypatch.setattr(core, "_FIT_CACHE", {})
    monkeypatch.setattr(AnswerEngine, "FIT_FOLDS", 0)  # fitting again would find no rows: the file is read
    again = AnswerEngine.build(entries).decision
    assert again.threshold == first.threshold and list(again.weights) == list(first.weights)


def test_a_corrupt_cache_file_is_refitted(tmp_path, monkeypatch, entries):
    monkeypatch.setenv("CHONNGHE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(core, "_FIT_CACHE", {})
    AnswerEngine.build(entries)
    (path,) = (tmp_path / "engine").glob("*.json")
    path.write_text("{not json", encoding="utf-8")
    monkeypatch.setattr(core, "_FIT_CACHE", {})
    assert AnswerEngine.build(entries).decision.fitted


def test_every_answer_says_why(shipped):
    m = shipped.answer("học nghề hàn ở đâu")
    assert m.kind == "answer" and m.reason == "answered" and m.candidates[0][0] == "nghe.han"
    assert len(m.candidates) == 3 and all(0.0 <= p <= 1.0 and 0.0 <= c <= 1.0 for _, p, c in m.candidates)
    none = shipped.answer("giá vàng hôm nay bao nhiêu")
    assert none.kind == "none" and none.reason in {"declined: low confidence",
                                                   "declined: too close to the runner-up",
                                                   "declined: a question on another subject"}
    assert shipped.answer("học nghề ở đâu").reason == "declined: only words every topic shares"
    assert shipped.answer("cảm ơn bạn").reason == "thanks"


def test_wanting_notices_is_not_unsubscribing(shipped):
    want = shipped.answer("tôi muốn nhận thông báo")
    assert want.id != "bot.huy_nhan_tin" and want.candidates[0][0] == "bot.dang_ky_nhan_tin"
    assert "khongmuon" in tokens("ko muốn nhận thông báo nữa")


def test_stop_words_are_decided_on_the_accented_form():
    assert tokens("mã ngành là gì")[0] == "ma" and type(tokens("mã ngành là gì")[0]) is core.Kept
    assert type(tokens("mà ngành là gì")[0]) is not core.Kept
    thi = tokens("thi đỗ rồi")
    assert core.filler(thi[2]) and not core.filler(thi[0]) and not core.filler(thi[1])  # "thi", "đỗ"; "rồi"
    assert all(core.filler(t) for t in tokens("thi do roi") if t in {"do", "roi"})  # unaccented: as before


def test_number_words_and_question_words():
    assert tokens("cách thứ ba") == ["cach", "thu", "3"]
    assert tokens("cách một là gì")[:2] == ["cach", "1"]
    assert tokens("ba mẹ em") == ["ba", "me", "em"]  # a father, not three
    assert "khinao" in tokens("khi nào tuyển sinh") and "thenao" in tokens("đăng ký như thế nào")
    # "tháng mấy" asks for a time like "khi nào" (accented, "mấy" is read as "bao nhiêu" first).
    assert tokens("tuyển sinh tháng mấy") == tokens("tuyen sinh thang may") == ["tuyen", "sinh", "khinao"]
    assert tokens("học may mấy tháng")[-1] == "thang"  # "mấy tháng" asks for a length, not a time
    # Failing an exam is one word however it is said ("không đỗ", "rớt", "trượt").
    assert "truot" in tokens("thi vào 10 ko đỗ") and tokens("rớt lớp 10") == tokens("trượt lớp 10")


def test_a_long_message_is_answered_by_the_part_that_asks(shipped, monkeypatch):
    # The context of a long message ("đứng máy tiện", "lương có ổn") pulls its coverage down: as a
    # whole it is declined, but its first part alone is answered with the entry the whole finds best.
    msg = ("nghề cơ khí đứng máy tiện ra trường làm ở đâu, lương có ổn ko, nhà em ở Tiên Lãng xa lắm, "
           "bố mẹ em làm ruộng")
    m = shipped.answer(msg)
    assert m.id == "nghe.co_khi" and m.reason == "answered: one part of the message"
    assert m.candidates[0][0] == "nghe.co_khi" and "nghe.co_khi" not in [s[0] for s in m.suggestions]
    monkeypatch.setattr(core, "MAX_PARTS", 0)  # parts not asked: the whole is declined
    assert shipped.answer(msg).id is None


def test_a_situation_joined_to_its_question_by_thi_is_two_parts(shipped, monkeypatch):
    # No punctuation: "thì" joins the situation to the question; typed decomposed (NFD) it still does.
    msg = "em thích vẽ tranh với chơi game thì học nghề hàn mất bao lâu"
    for text in (msg, unicodedata.normalize("NFD", msg)):
        m = shipped.answer(text)
        assert m.id == "nghe.han" and m.reason == "answered: one part of the message"
    monkeypatch.setattr(core, "_CLAUSE_BREAK", re.compile(r"[,.;:?!\n]+"))  # punctuation only
    assert shipped.answer(msg).id is None


def test_a_part_that_asks_something_else_or_nothing_answers_nothing(shipped):
    # Whatever a part says, it answers only with the entry the whole message finds most probable and
    # only when the whole reaches the floor: an off-topic question after a known clause stays declined.
    for msg in ("em ở Kiến An, giá vàng hôm nay bao nhiêu",
                "con tôi học nghề hàn, tối nay Hải Phòng đá với ai",
                "học phí, giá đất ở Thủy Nguyên bây giờ bao nhiêu 1m2"):
        assert shipped.answer(msg).id is None, msg


def test_places_in_the_city_read_as_the_city():
    # A district of the city is no off-topic word: it reads like "Hải Phòng", a word every topic shares.
    assert tokens("em ở Tiên Lãng") == tokens("em o tien lang") == ["em", "o", "haiphong"]
    assert tokens("nhà ở Cẩm Giàng")[-1] == "haiduong"
    # "hồng" written so is a word (Hồng Bàng), though "hong"/"hông" are chat forms of "không".
    assert tokens("ở Hồng Bàng") == ["o", "haiphong"]
    assert tokens("hông biết") == tokens("hong biet") == ["khong", "biet"]
    # "ít việc" is few jobs, not IT: the chat form "it" (công nghệ thông tin) is not read into "ít".
    assert tokens("bị ít việc") == ["bi", "it", "viec"] and "thong" in tokens("học it ở đâu")
    assert "tu" in tokens("con bị tự kỷ")  # Tứ Kỳ is left out: unaccented it is also "tự kỷ"


def test_i_and_y_spellings_match():
    assert tokens("đăng kí nhận tin") == tokens("đăng ký nhận tin")
    assert tokens("kĩ năng nghề") == tokens("kỹ năng nghề") and tokens("kí túc xá") == tokens("ký túc xá")


def test_cross_validation_holds_out_every_question_once(entries):
    asked: list[tuple[str, str]] = []

    class Recorder:
        def __init__(self, train):
            self.train = {e.id: set(e.questions) for e in train}

        def answer(self, q):
            asked.append(q)
            assert all(q not in qs for qs in self.train.values())  # never asked what it was built on
            return core.Match("none", None, 0.0, q, ())

    sample = entries[:6]
    cv = cross_validate(sample, k=3, build=Recorder)
    assert sorted(asked) == sorted(q for e in sample for q in e.questions)
    assert cv.asked == len(asked) and cv.declined == cv.asked and cv.correct == cv.wrong == 0
    assert folds_of(("a", "b", "c", "d"), 3) == [0, 1, 2, 0]


def test_cross_validation_counts_right_wrong_and_confusions(entries):
    sample = entries[:4]
    by_id = {e.id: e for e in sample}

    class Always:
        def __init__(self, train):
            pass

        def answer(self, q):
            ident = next(e.id for e in sample if q in e.questions)
            got = ident if q == by_id[ident].questions[0] else sample[0].id if ident != sample[0].id else None
            # a declined question suggests its own entry fourth: not among the three shown
            suggest = tuple((x, 0.1) for x in ("a", "b", "c", ident)) if got is None else ()
            return core.Match("answer" if got else "none", got, 1.0, q, suggest)

    cv = cross_validate(sample, k=2, build=Always)
    assert cv.correct == len(sample)
    assert cv.wrong == sum(len(e.questions) - 1 for e in sample[1:])
    assert cv.confusions[(sample[1].id, sample[0].id)] == len(sample[1].questions) - 1
    text = "\n".join(report(cv))
    assert "worst confusions" in text and f"{sample[1].id} -> {sample[0].id}" in text
    assert cv.declined == len(sample[0].questions) - 1 and cv.declined_suggested == 0
    assert f"the 3 suggestions shown: 0.000 (0/{cv.declined})" in text


def test_cross_validation_counts_declines_whose_entry_is_suggested(entries):
    sample = entries[:3]

    class Suggests:
        def __init__(self, train):
            pass

        def answer(self, q):
            ident = next(e.id for e in sample if q in e.questions)
            return core.Match("none", None, 0.0, q, (("x.other", 0.5), (ident, 0.4)))

    cv = cross_validate(sample, k=2, build=Suggests)
    assert cv.declined == cv.asked == cv.declined_suggested > 0


def test_shuffled_fold_assignments_keep_every_question(entries):
    from bot.engine.crossval import shuffled

    assert shuffled(entries, 0) == entries  # seed 0: the written order, round robin as before
    one, again, other = shuffled(entries, 1), shuffled(entries[::-1], 1), shuffled(entries, 2)
    assert one == again  # the same assignment whatever order the entries come in
    assert one != other
    by_id = {e.id: e for e in entries}
    assert all(sorted(e.questions) == sorted(by_id[e.id].questions) for e in one)
    assert any(e.questions != by_id[e.id].questions for e in one)


def test_an_entry_with_one_question_is_never_emptied():
    one = Entry("x.one", "faq", "Một chủ đề", ("câu hỏi duy nhất",), "a", "s", date(2026, 1, 1))
    seen = []

    class Keep:
        def __init__(self, train):
            seen.append(next(e for e in train if e.id == "x.one").questions)

        def answer(self, q):
            return core.Match("none", None, 0.0, q, ())

    cv = cross_validate([one, dataclasses.replace(one, id="x.two", questions=("a", "b"))], k=2, build=Keep)
    assert all(qs == ("câu hỏi duy nhất",) for qs in seen) and cv.per_entry["x.one"].asked == 0


def test_a_handful_of_examples_per_entry_rotates_with_the_fold():
    from bot.engine.crossval import split

    qs = tuple("abcdefg")
    asked0, kept0 = split(qs, 0, 5, 3)
    asked1, kept1 = split(qs, 1, 5, 3)
    assert kept0 == ("a", "b", "c") and asked0 == list("defg")
    assert kept1 == ("a", "d", "e", "f")[1:] and set(asked1) == set(qs) - set(kept1)
    assert split(("a", "b"), 0, 5, 3) == ([], ("a", "b"))  # too few: nothing asked, all kept


def test_a_small_content_change_does_not_swing_the_decision(entries, monkeypatch):
    """The thresholds are recalibrated smoothly: leaving one entry out moves them only a little."""
    monkeypatch.setattr(AnswerEngine, "DISK_CACHE", False)
    full = AnswerEngine.build(entries).decision
    for drop in (3, 29):
        d = AnswerEngine.build([e for i, e in enumerate(sorted(entries, key=lambda e: e.id))
                                if i != drop]).decision
        assert abs(d.threshold - full.threshold) < 0.05 and abs(d.floor - full.floor) < 0.05, (drop, d.floor)
