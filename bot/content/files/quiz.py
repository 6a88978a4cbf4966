"""quiz.yaml (optional): the interest quiz on Holland's RIASEC types. Without the file the base has no
quiz; with it, every trade must carry its RIASEC codes (checked by the trades loader) and every type
should be covered by some trade (a warning here)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

from bot.content.models import RIASEC, Quiz, QuizChoice, QuizItem, QuizType
from bot.content.schema import Day, FileReport, Schema, Text, fail, fields_of, required_text, text
from bot.content.state import LoadState
from bot.content.yamlio import line_of

FILE = "quiz.yaml"
MIN_CHOICES, MAX_CHOICES = 2, 5
MIN_ITEMS, MAX_ITEMS = 12, 18
MAX_ITEM_TEXT = 90
MAX_LABEL = 40  # an answer button: short enough for one line on a phone
MAX_NAME = 40
MAX_EXPLAIN = 200
ITEM_ID_RE = re.compile(r"^[a-z0-9_]{1,8}$")
CHOICE_ID_RE = re.compile(r"^[a-z0-9_]{1,16}$")


def _pattern(regex: re.Pattern, rule: str) -> Any:
    def check(value: Any, info: ValidationInfo) -> str:
        value = required_text(value, info)
        if not regex.match(value):
            raise fail(f"{info.field_name} {value!r} must be {rule}")
        return value

    return Annotated[str, BeforeValidator(check)]


def _code(value: Any, info: ValidationInfo) -> str:
    value = required_text(value, info)
    if value not in RIASEC:
        raise fail(f"{info.field_name} {value!r} must be one of {', '.join(RIASEC)}")
    return value


def _score(value: Any, info: ValidationInfo) -> int:
    if value is None:
        raise fail("missing field 'score'")
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(f"'score' must be an integer (got {value!r})")
    return value


def _mappings(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        raise fail(f"missing field '{info.field_name}'")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise fail(f"'{info.field_name}' must be a list of mappings")
    return value


Code = Annotated[str, BeforeValidator(_code)]
Score = Annotated[int, BeforeValidator(_score)]
ChoiceId = _pattern(CHOICE_ID_RE, "1 to 16 characters a-z, 0-9, '_'")
ItemId = _pattern(ITEM_ID_RE, "1 to 8 characters a-z, 0-9, '_'")
Label = text(MAX_LABEL, hard_max=True)
Name = text(MAX_NAME, hard_max=True)
Explain = text(MAX_EXPLAIN, hard_max=True)
Statement = text(MAX_ITEM_TEXT, hard_max=True)


class ChoiceItem(Schema):
    """One answer button: id, label, score."""

    id: ChoiceId
    label: Label
    score: Score


class TypeItem(Schema):
    """One RIASEC type: code, name, explanation."""

    code: Code
    name: Name
    explain: Explain


class ItemItem(Schema):
    """One statement of the quiz: id, type, text."""

    id: ItemId
    type: Code
    text: Statement


Choices = Annotated[list[ChoiceItem], BeforeValidator(_mappings)]
Types = Annotated[list[TypeItem], BeforeValidator(_mappings)]
Items = Annotated[list[ItemItem], BeforeValidator(_mappings)]


class QuizFile(Schema):
    """The whole file; counts and uniqueness are checked after it validates (see `_check`)."""

    source: Text
    reviewed: Day
    choices: Choices
    types: Types
    items: Items


LISTS = (("choices", ChoiceItem), ("types", TypeItem), ("items", ItemItem))


def load(state: LoadState) -> None:
    """The quiz, when quiz.yaml exists (after trades.yaml: the types are checked against the trades)."""
    found = state.mapping_file(FILE, "source, reviewed, choices, types and items")
    if found is None:
        return
    data, report = found
    for key, model in LISTS:
        entries = data.get(key)
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict):
                report.unknown_fields(entry, fields_of(model))
    found = report.validate(QuizFile, data)
    if found is None or not _check(report, data, found):
        return
    quiz = Quiz(source=found.source, reviewed=found.reviewed,
                choices=tuple(QuizChoice(id=c.id, label=c.label, score=c.score) for c in found.choices),
                types=tuple(QuizType(code=t.code, name=t.name, explain=t.explain) for t in found.types),
                items=tuple(QuizItem(id=i.id, type=i.type, text=i.text) for i in found.items))
    state.base.quiz = quiz
    covered = {code for trade in state.base.trades.values() for code in trade.riasec}
    for t, raw in zip(quiz.types, data["types"], strict=True):
        if t.code not in covered:
            report.problem(line_of(raw), f"no trade in trades.yaml has RIASEC type {t.code!r} ({t.name}); "
                                         "the quiz cannot suggest a trade for it", "warning")


def _check(report: FileReport, data: dict, quiz: QuizFile) -> bool:
    """The rules across items: counts, unique ids, the six types each once with as many items each."""
    before = len(report.problems)
    _count(report, data, "choices", len(quiz.choices), MIN_CHOICES, MAX_CHOICES)
    _unique(report, data["choices"], [c.id for c in quiz.choices], "id", "choice id")
    _unique(report, data["types"], [t.code for t in quiz.types], "code", "type")
    missing = [code for code in RIASEC if code not in {t.code for t in quiz.types}]
    if missing:
        report.problem(line_of(data, "types"), f"'types' must hold exactly the six codes {', '.join(RIASEC)} "
                                               f"(missing: {', '.join(missing)})")
    _count(report, data, "items", len(quiz.items), MIN_ITEMS, MAX_ITEMS)
    _unique(report, data["items"], [i.id for i in quiz.items], "id", "item id")
    per_type = Counter(i.type for i in quiz.items)
    if len({per_type[code] for code in RIASEC}) > 1:
        counts = ", ".join(f"{code}: {per_type[code]}" for code in RIASEC)
        report.problem(line_of(data, "items"), f"every type needs the same number of items ({counts})")
    return len(report.errors_since(before)) == 0


def _count(report: FileReport, data: dict, key: str, n: int, low: int, high: int) -> None:
    if not low <= n <= high:
        report.problem(line_of(data, key), f"'{key}' has {n} item(s) ({low} to {high})")


def _unique(report: FileReport, raws: list[dict], values: list[str], key: str, what: str) -> None:
    seen: set[str] = set()
    for raw, value in zip(raws, values, strict=True):
        if value in seen:
            report.problem(line_of(raw, key), f"{what} {value!r} listed twice")
        seen.add(value)
