"""texts.yaml (optional): overrides of the bot's texts and buttons, office hours and example questions,
built once into the base's catalogue. An override the catalogue cannot use is ignored (the default is
kept, as handlers.texts.Texts does) and reported here as a warning with its line."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo

from bot.content.schema import Schema, soft, template_fields
from bot.content.state import LoadState
from bot.content.yamlio import strip
from handlers.texts import BUTTONS, DEFAULTS, Texts

FILE = "texts.yaml"


def _overrides(defaults: dict[str, str]) -> Any:
    def check(value: Any, info: ValidationInfo) -> None:
        name = info.field_name
        if value is None:
            return
        if not isinstance(value, dict):
            soft(info, f"'{name}' must be a mapping; ignored", "warning")
            return
        for key, text in value.items():
            if key not in defaults:
                soft(info, f"unknown {name} key {key!r} ignored", "warning", (key,))
            elif not isinstance(text, str) or not text.strip():
                soft(info, f"{name}.{key} must be non-empty text; default kept", "warning", (key,))
            elif _fields(text) != _fields(defaults[key]):
                wanted = sorted(_fields(defaults[key])) or "(none)"
                soft(info, f"{name}.{key} must use exactly the placeholders {wanted}; default kept", "warning",
                     (key,))

    return Annotated[None, BeforeValidator(check), Field(default=None)]


def _fields(text: str) -> set[str] | None:
    try:
        return {f for f in template_fields(text) if f}
    except ValueError:
        return None  # unbalanced braces: never equal to a default's fields


def _office_hours(value: Any, info: ValidationInfo) -> None:
    if value is None:
        return
    try:
        if not isinstance(value, dict):
            raise TypeError
        days = [int(d) for d in value.get("days", range(5))]
        time.fromisoformat(str(value.get("start", "07:30")))
        time.fromisoformat(str(value.get("end", "17:00")))
    except (TypeError, ValueError):
        soft(info, "office_hours must be {days: [0-6], start: HH:MM, end: HH:MM}; default kept", "warning")
        return
    if not days or not all(0 <= d <= 6 for d in days):
        soft(info, "office_hours.days must list days 0 (Monday) to 6 (Sunday)", "warning", ("days",))


def _examples(value: Any, info: ValidationInfo) -> None:
    if value is not None and (not isinstance(value, list)
                              or not all(isinstance(v, str) and v.strip() for v in value)):
        soft(info, "'examples' must be a list of non-empty texts; the defaults are used", "warning")


TextOverrides = _overrides(DEFAULTS)
ButtonOverrides = _overrides(BUTTONS)
OfficeHours = Annotated[None, BeforeValidator(_office_hours), Field(default=None)]
Examples = Annotated[None, BeforeValidator(_examples), Field(default=None)]


class TextsFile(Schema):
    """The whole file: each part optional (a part the catalogue cannot use is a warning, never an error)."""

    texts: TextOverrides
    buttons: ButtonOverrides
    office_hours: OfficeHours
    examples: Examples


def load(state: LoadState) -> None:
    """The catalogue of texts for this base (the defaults alone when the file is absent or unreadable)."""
    path = state.root / FILE
    raw = None
    if path.exists():
        data = state.read(path)
        if isinstance(data, dict):
            state.report(FILE).validate(TextsFile, data)
        if data is not None:
            raw = strip(data)
            state.base.raw[FILE] = raw
    state.base.texts = Texts(raw)
