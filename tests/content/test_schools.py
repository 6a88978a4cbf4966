"""The shipped schools.yaml: it loads without problems, every school carries a source and a review date,
names only known trades and levels, and gives no contact details or money figures."""

from __future__ import annotations

import re
from datetime import date

import pytest
import yaml

from bot.content import load_content
from bot.content.loader import LEVELS, MAX_ANSWER, PROVINCES
from tests.conftest import CONTENT_DIR

SCHOOLS_FILE = CONTENT_DIR / "schools.yaml"


@pytest.fixture(scope="module")
def base():
    return load_content(CONTENT_DIR, today=date(2026, 11, 29))


def test_schools_file_loads_without_problems(base):
    assert SCHOOLS_FILE.exists()
    assert [p for p in base.problems if p.file == "schools.yaml"] == []
    assert base.ok, [str(p) for p in base.errors]
    raw = yaml.safe_load(SCHOOLS_FILE.read_text(encoding="utf-8"))["schools"]
    assert len(base.schools) == len(raw) > 0  # every item became a school


def test_every_school_has_source_review_date_and_valid_fields(base):
    for school in base.schools.values():
        assert school.id.startswith("truong."), school.id
        assert school.name.startswith("Trường "), school.id
        assert school.source.strip(), school.id
        assert isinstance(school.reviewed, date), school.id
        assert school.former_province in PROVINCES, school.id
        assert school.levels and set(school.levels) <= set(LEVELS), school.id
        if school.website:
            assert school.website.startswith(("http://", "https://")), school.id


def test_every_listed_trade_exists(base):
    for school in base.schools.values():
        assert len(set(school.trades)) == len(school.trades), school.id
        for trade_id in school.trades:
            assert trade_id in base.trades, f"{school.id}: unknown trade {trade_id}"


def test_both_former_provinces_are_covered(base):
    assert {s.former_province for s in base.schools.values()} == set(PROVINCES)


def test_no_phone_numbers_fees_or_quotas_in_the_file():
    text = SCHOOLS_FILE.read_text(encoding="utf-8")
    data = yaml.safe_load(text)["schools"]
    allowed = {"id", "name", "former_province", "levels", "trades", "website", "source", "reviewed", "staff_chat_id"}
    for item in data:
        assert set(item) <= allowed, item["id"]
    no_urls = re.sub(r"https?://\S+", "", text)
    assert not re.search(r"\b0\d{2,3}[ .]?\d{3}[ .]?\d{3,4}\b", no_urls)  # phone-like numbers
    for word in ("điện thoại", "học phí", "chỉ tiêu", "địa chỉ:", "đồng/"):
        assert word not in no_urls.lower(), word


def test_trade_pages_list_their_schools_within_the_limit(base):
    for trade_id in base.trades:
        answer = base.entries[trade_id].answer
        assert len(answer) <= MAX_ANSWER, trade_id
        for school in base.schools_for(trade_id):
            assert school.name in answer, (trade_id, school.id)
