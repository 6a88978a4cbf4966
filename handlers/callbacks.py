"""Typed button payloads, packed and unpacked by one codec (aiogram's CallbackData is the model).

A payload class is a frozen dataclass with a short prefix:

    @dataclass(frozen=True)
    class PickRole(CallbackData, prefix="role"):
        role: str | None = None

    PickRole("hs_thcs").pack()        -> "role:hs_thcs"
    PickRole.unpack("role:hs_thcs")   -> PickRole(role="hs_thcs")

On the wire: the prefix and the fields joined by ":", trailing fields left at their default dropped
("role"). Fields are str, int or bool ("1"/"0"), optionally `| None`. Every channel gets these payloads,
and Telegram's callback_data holds 1-64 bytes, so `pack` refuses longer ones (a bug: use `ref()` for
long content ids). `unpack` refuses what the bot never packs — a wrong arity, a field that is not a
number, a ":" inside a text field — with BadPayload, which the router answers politely.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, ClassVar, Self

MAX_PAYLOAD = 64  # Telegram's callback_data limit, in bytes
SEP = ":"


class BadPayload(ValueError):
    """A payload that does not decode to its class: forged, stale or from an older version of the bot."""


class PayloadTooLong(ValueError):
    """pack() would exceed MAX_PAYLOAD bytes."""


def _base_type(hint: Any) -> tuple[type, bool]:
    """(str | int | bool, optional?) of a field's annotation."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported payload field type {hint!r}")
        return inner[0], True
    return hint, False


def _encode(owner: str, name: str, base: type, value: Any) -> str | None:
    if value is None:
        return None
    if base is bool:
        return "1" if value else "0"
    text = str(value)
    if SEP in text or not text:
        raise ValueError(f"{owner}.{name} may not be empty or contain {SEP!r}: {text!r}")
    return text


class CallbackData:
    """Base of every payload class (subclass as a frozen dataclass with `prefix=`)."""

    prefix: ClassVar[str]
    _fields: ClassVar[tuple[tuple[str, type, bool], ...]] = ()

    def __init_subclass__(cls, prefix: str, **kwargs: Any) -> None:
        """Record the prefix; field types are read when first used (the dataclass decorator runs after)."""
        super().__init_subclass__(**kwargs)
        if not prefix or SEP in prefix:
            raise ValueError(f"bad payload prefix {prefix!r}")
        cls.prefix = prefix
        cls._fields = ()

    @classmethod
    def _spec(cls) -> tuple[tuple[str, type, bool], ...]:
        if not cls._fields:
            hints = typing.get_type_hints(cls)
            spec = []
            for f in dataclasses.fields(cls):  # type: ignore[arg-type]
                base, optional = _base_type(hints[f.name])
                if base not in (str, int, bool):
                    raise TypeError(f"{cls.__name__}.{f.name}: payload fields are str, int or bool")
                spec.append((f.name, base, optional))
            cls._fields = tuple(spec)
        return cls._fields

    def pack(self) -> str:
        """The payload string; raises PayloadTooLong past 64 bytes and ValueError on a ':' in a field."""
        encoded: list[tuple[bool, str | None]] = []  # (left at its default?, text)
        for f, (name, base, _optional) in zip(dataclasses.fields(self), self._spec(), strict=True):  # type: ignore[arg-type]
            value = getattr(self, name)
            encoded.append((value == f.default, _encode(type(self).__name__, name, base, value)))
        while encoded and encoded[-1][0]:
            encoded.pop()
        if any(text is None for _default, text in encoded):
            raise ValueError(f"{type(self).__name__}: only trailing fields may be left empty")
        packed = SEP.join([self.prefix, *(text for _default, text in encoded if text is not None)])
        if len(packed.encode("utf-8")) > MAX_PAYLOAD:
            raise PayloadTooLong(packed)
        return packed

    @classmethod
    def unpack(cls, payload: str) -> Self:
        """The payload class instance a payload string stands for; raises BadPayload."""
        prefix, *raw = payload.split(SEP)
        if prefix != cls.prefix:
            raise BadPayload(f"not a {cls.prefix!r} payload")
        spec = cls._spec()
        if len(raw) > len(spec):
            raise BadPayload(f"{cls.prefix}: {len(raw)} fields, at most {len(spec)}")
        values: dict[str, Any] = {}
        for (name, base, optional), text in zip(spec, raw, strict=False):
            if text == "" and optional:
                values[name] = None
            elif base is int:
                if not text.lstrip("-").isdigit() or len(text) > 12:
                    raise BadPayload(f"{cls.prefix}.{name}: not a number")
                values[name] = int(text)
            elif base is bool:
                if text not in ("0", "1"):
                    raise BadPayload(f"{cls.prefix}.{name}: not 0 or 1")
                values[name] = text == "1"
            else:
                if not text:
                    raise BadPayload(f"{cls.prefix}.{name}: empty")
                values[name] = text
        try:
            return cls(**values)
        except TypeError as exc:  # a required field missing
            raise BadPayload(f"{cls.prefix}: {exc}") from None
