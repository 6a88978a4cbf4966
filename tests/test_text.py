"""bot.text: the helpers every layer shares (numbers, folding, splitting)."""

from __future__ import annotations

from bot.text import CHANNEL_LABELS, fold, split_text, thousands, utf16_len


def test_thousands_use_the_vietnamese_separator():
    assert [thousands(v) for v in (0, 999, 1234, 1_000_000, 2500.4)] == ["0", "999", "1.234", "1.000.000",
                                                                           "2.500"]


def test_fold_drops_case_diacritics_and_punctuation():
    assert fold("Tuyển sinh!  Đào_tạo nghề?") == "tuyen sinh dao tao nghe"
    assert CHANNEL_LABELS["zalo_oa"] == "Zalo OA"


def test_split_counts_with_the_measure_given():
    emoji = "😀" * 30  # 30 characters, 60 UTF-16 units
    assert split_text(emoji, 40) == [emoji]
    pieces = split_text(emoji, 40, utf16_len)
    assert [utf16_len(p) for p in pieces] == [40, 20] and "".join(pieces) == emoji


def test_split_prefers_sentence_ends_and_never_returns_nothing():
    text = "Câu thứ nhất khá dài. Câu thứ hai! Câu thứ ba?"
    assert split_text(text, 30) == ["Câu thứ nhất khá dài.", "Câu thứ hai! Câu thứ ba?"]
    assert split_text("", 10) == [""]
