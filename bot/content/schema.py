"""Pydantic v2 building blocks for the content files: field types whose messages read like the content
check's, and `FileReport.validate`, which maps each validation error back to the line of its item or key.

Two kinds of check. A *hard* one (an id, a title, an answer, a source) raises: the item is not built.
A *soft* one (too few questions, an unknown level, a bad optional field) is recorded through the
validation context and the item is still built with a neutral value, so one small mistake does not cascade
into "unknown id" errors elsewhere. Both are errors in the report unless they say otherwise.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from datetime import date
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from bot.content.models import MIN_QUESTIONS
from bot.content.problems import Problem
from bot.content.yamlio import BOOKKEEPING, LINES_KEY, line_at, line_of, strip

ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
SLUG_RE = re.compile(r"^[a-z0-9_]+$")
M = TypeVar("M", bound=BaseModel)


class Schema(BaseModel):
    """Base of every file schema: unknown keys are ignored here (FileReport warns about them)."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)


def fail(message: str) -> PydanticCustomError:
    """A hard error whose text is shown as is."""
    return PydanticCustomError("content", "{message}", {"message": message})


def soft(info: ValidationInfo, message: str, severity: str = "error", at: tuple = ()) -> None:
    """Record a problem on the field being validated (or on `at`, a path inside it) without rejecting the
    item."""
    info.context["soft"].append(((info.field_name, *at), message, severity))


def context(info: ValidationInfo, key: str, default: Any = None) -> Any:
    """A value the file loader passed in the validation context (known topics, the choice of ids...)."""
    return (info.context or {}).get(key, default)


# --- field types ---------------------------------------------------------------------------------


def required_text(value: Any, info: ValidationInfo) -> str:
    """The check behind `Text`: present, text, not blank; returned stripped."""
    if value is None:
        raise fail(f"missing field '{info.field_name}'")
    if not isinstance(value, str) or not value.strip():
        raise fail(f"'{info.field_name}' must be non-empty text")
    return value.strip()


def text(max_len: int | None = None, hard_max: bool = False) -> Any:
    """Required non-empty text, stripped; longer than `max_len` is a soft error (hard with `hard_max`)."""

    def check(value: Any, info: ValidationInfo) -> str:
        value = required_text(value, info)
        if max_len is not None and len(value) > max_len:
            message = f"'{info.field_name}' is {len(value)} characters (at most {max_len})"
            if hard_max:
                raise fail(message)
            soft(info, message)
        return value

    return Annotated[str, BeforeValidator(check)]


Text = text()


def _optional_text(value: Any, info: ValidationInfo) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        soft(info, f"'{info.field_name}' must be non-empty text")
        return None
    return value.strip()


OptText = Annotated[str | None, BeforeValidator(_optional_text), Field(default=None, validate_default=True)]


def text_list(required: bool = True, min_items: int = 0,
              each: Callable[[str, ValidationInfo], None] | None = None,
              whole: Callable[[tuple[str, ...], ValidationInfo], None] | None = None) -> Any:
    """A list of non-empty texts (soft: a bad or missing list becomes ()); `each` checks every item,
    `whole` the list."""

    def check(value: Any, info: ValidationInfo) -> tuple[str, ...]:
        if value is None:
            if required:
                soft(info, f"missing field '{info.field_name}'")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            soft(info, f"'{info.field_name}' must be a list of non-empty texts")
            return ()
        result = tuple(v.strip() for v in value)
        if len(result) < min_items:
            soft(info, f"'{info.field_name}' has {len(result)} item(s) (at least {min_items})")
        for v in result:
            if each is not None:
                each(v, info)
        if whole is not None:
            whole(result, info)
        return result

    return Annotated[tuple[str, ...], BeforeValidator(check), Field(default=None, validate_default=True)]


OptTextList = text_list(required=False)


def one_of(allowed: Iterable[str], what: str) -> Callable[[str, ValidationInfo], None]:
    """An `each` check for text_list: every item is one of `allowed` (soft)."""
    allowed = frozenset(allowed)

    def check(value: str, info: ValidationInfo) -> None:
        if value not in allowed:
            soft(info, f"unknown {what} {value!r}")

    return check


def _parse_day(value: Any, info: ValidationInfo) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise fail(f"'{info.field_name}' must be a date YYYY-MM-DD (got {value!r})") from None


def _day(value: Any, info: ValidationInfo) -> date:
    if value is None:
        raise fail(f"missing field '{info.field_name}'")
    return _parse_day(value, info)


def _soft_day(required: bool) -> Callable[[Any, ValidationInfo], date | None]:
    def check(value: Any, info: ValidationInfo) -> date | None:
        if value is None:
            if required:
                soft(info, f"missing field '{info.field_name}'")
            return None
        try:
            return _parse_day(value, info)
        except PydanticCustomError as exc:
            soft(info, exc.message())
            return None

    return check


Day = Annotated[date, BeforeValidator(_day)]
SoftDay = Annotated[date | None, BeforeValidator(_soft_day(True)), Field(default=None, validate_default=True)]
OptDay = Annotated[date | None, BeforeValidator(_soft_day(False)), Field(default=None, validate_default=True)]


def ident(prefix: str | None = None) -> Any:
    """A content id: [a-z0-9_.]+ (hard); not starting with `prefix` is a soft error."""

    def check(value: Any, info: ValidationInfo) -> str:
        value = required_text(value, info)
        if not ID_RE.match(value):
            raise fail(f"id {value!r} may hold only a-z, 0-9, '_' and '.'")
        if prefix and not value.startswith(prefix):
            soft(info, f"id {value!r} must start with {prefix!r}")
        return value

    return Annotated[str, BeforeValidator(check)]


Id = ident()


def template_fields(value: str) -> set[str]:
    """The {placeholders} of a str.format template (ValueError when the braces are unbalanced)."""
    return {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}


def warn_repeated(value: tuple[str, ...], info: ValidationInfo) -> None:
    """A `whole` check for text_list: the same text (case and spacing aside) twice is a warning."""
    seen: set[str] = set()
    for q in value:
        key = " ".join(q.lower().split())
        if key in seen:
            soft(info, f"question listed twice: {q!r}", "warning")
        seen.add(key)


Questions = text_list(min_items=MIN_QUESTIONS, whole=warn_repeated)


# --- reporting -----------------------------------------------------------------------------------


class FileReport:
    """Problems of one content file: `validate` turns a mapping into a schema model, reporting by line."""

    def __init__(self, problems: list[Problem], file: str):
        self.problems = problems
        self.file = file

    def problem(self, line: int, message: str, severity: str = "error") -> None:
        """Append one problem of this file."""
        self.problems.append(Problem(self.file, line, message, severity))

    def errors_since(self, start: int) -> list[Problem]:
        """The errors appended since the report held `start` problems (of any file)."""
        return [p for p in self.problems[start:] if p.severity == "error"]

    def items(self, data: Any, key: str) -> list[dict]:
        """The mappings listed under top-level `key`; anything else there is reported."""
        if not isinstance(data, dict) or key not in data:
            self.problem(1, f"expected a top-level '{key}:' list")
            return []
        value = data[key]
        if not isinstance(value, list):
            self.problem(data[LINES_KEY].get(key, 1), f"'{key}' must be a list")
            return []
        good = []
        for item in value:
            if isinstance(item, dict):
                good.append(item)
            else:
                self.problem(data[LINES_KEY].get(key, 1), f"each item of '{key}' must be a mapping")
        return good

    def unknown_fields(self, item: dict, allowed: Iterable[str]) -> None:
        """Warn about keys the schema does not know (a typo usually)."""
        allowed = set(allowed)
        for key in item:
            if key not in BOOKKEEPING and key not in allowed:
                self.problem(line_of(item, key), f"unknown field {key!r}", "warning")

    def validate(self, model: type[M], item: dict, warn_unknown: bool = True, **extra: Any) -> M | None:
        """`model` validated from `item` (None when a hard check failed); every problem goes to the report
        with the line of its key, in the order of the model's fields. `extra` is the validation context."""
        if warn_unknown:
            self.unknown_fields(item, fields_of(model))
        found: list[tuple[tuple, str, str]] = []
        result: M | None = None
        try:
            result = model.model_validate(strip(item), context={**extra, "soft": found})
        except ValidationError as exc:
            found.extend((tuple(e["loc"]), _message(e), "error") for e in exc.errors())
        order = {name: i for i, name in enumerate(model.model_fields)}
        found.sort(key=lambda f: order.get(f[0][0], -1) if f[0] else -1)
        for loc, message, severity in found:
            self.problem(line_at(item, loc), message, severity)
        return result


def fields_of(model: type[BaseModel]) -> set[str]:
    """The keys a file may use for `model` (field names and aliases)."""
    return {f.alias or name for name, f in model.model_fields.items()}


def _message(error: Any) -> str:
    loc = error["loc"]
    key = ".".join(str(part) for part in loc)
    if error["type"] == "missing":
        return f"missing field '{loc[-1]}'"
    if error["type"] == "content":
        return error["msg"]
    return f"'{key}': {error['msg']}" if key else error["msg"]
