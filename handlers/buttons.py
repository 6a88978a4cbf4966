"""Every button payload the conversation offers, as typed classes of one codec (handlers.callbacks).

The prefixes are short because every channel carries them and Telegram allows 64 bytes. Content ids go
in through `handlers.common.ref` (long ids become a checksum) and come back through `unref`.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.callbacks import CallbackData


@dataclass(frozen=True)
class Menu(CallbackData, prefix="m"):
    """The main menu, or one of its items (faq, nghe, truong, tin, tv)."""

    item: str | None = None


@dataclass(frozen=True)
class PickRole(CallbackData, prefix="role"):
    """Who is writing (a role id of bot.content.texts.ROLES); empty asks again."""

    role: str | None = None


@dataclass(frozen=True)
class PickAge(CallbackData, prefix="age"):
    """A student's age bracket: "u16" (under 16) or "16" (16 or older)."""

    bracket: str


@dataclass(frozen=True)
class ConfirmDelete(CallbackData, prefix="xd"):
    """/xoadulieu's answer: "y" deletes, "n" keeps."""

    answer: str


@dataclass(frozen=True)
class Wizard(CallbackData, prefix="gt"):
    """A button of the staff broadcast wizard (/guitin): an action and, for "t", the topic toggled."""

    action: str
    topic: str | None = None


@dataclass(frozen=True)
class ShowEntry(CallbackData, prefix="a"):
    """A related entry or a suggestion (content id ref)."""

    entry: str


@dataclass(frozen=True)
class Feedback(CallbackData, prefix="fb"):
    """👍 / 👎 on an answer (content id ref)."""

    entry: str
    helpful: bool


@dataclass(frozen=True)
class Counsellor(CallbackData, prefix="tv"):
    """"Gặp tư vấn viên": about "q" (the latest unanswered question) or nothing (ask for the question)."""

    about: str | None = None


@dataclass(frozen=True)
class HandoffDone(CallbackData, prefix="tvx"):
    """"Đã xong": the person closes their counsellor case."""


@dataclass(frozen=True)
class Province(CallbackData, prefix="tr"):
    """Schools of a former province, one page of them; no province: the choice of provinces."""

    province: str | None = None
    page: int = 1


@dataclass(frozen=True)
class School(CallbackData, prefix="t"):
    """A school's page (school id ref)."""

    school: str


@dataclass(frozen=True)
class Subscribe(CallbackData, prefix="dk"):
    """Subscribe to a topic ("*": every topic); no topic: the choice of topics."""

    topic: str | None = None


@dataclass(frozen=True)
class ParentConsent(CallbackData, prefix="pc"):
    """An under-16's parent agrees (with the topic to subscribe to), or not yet (no topic)."""

    topic: str | None = None


@dataclass(frozen=True)
class Unsubscribe(CallbackData, prefix="huy"):
    """Leave a topic ("*": every topic); no topic: the choice of topics."""

    topic: str | None = None


@dataclass(frozen=True)
class Group(CallbackData, prefix="ng"):
    """A group of trades (group id ref); no group: the list of groups."""

    group: str | None = None


@dataclass(frozen=True)
class Trade(CallbackData, prefix="n"):
    """A trade's page (trade id ref)."""

    trade: str


@dataclass(frozen=True)
class TradeSchools(CallbackData, prefix="nt"):
    """The schools that teach a trade (trade id ref)."""

    trade: str


@dataclass(frozen=True)
class QuizStart(CallbackData, prefix="qz"):
    """"🧭 Trắc nghiệm chọn nghề": start the quiz (or carry on where the person is); `fresh`: start over."""

    fresh: bool = False


@dataclass(frozen=True)
class QuizAnswer(CallbackData, prefix="qa"):
    """An answer to one quiz item: the item id and the choice id (content/quiz.yaml)."""

    item: str
    choice: str


@dataclass(frozen=True)
class QuizBack(CallbackData, prefix="qb"):
    """"⬅️ Câu trước": go back one question."""


@dataclass(frozen=True)
class QuizResult(CallbackData, prefix="qr"):
    """"Xem lại kết quả": the person's last quiz result."""


@dataclass(frozen=True)
class LeadStart(CallbackData, prefix="dt"):
    """"📝 Đăng ký tư vấn": start the registration, pre-filled with a trade ("n") or a school ("t")
    (id ref)."""

    kind: str | None = None
    ident: str | None = None


@dataclass(frozen=True)
class LeadPick(CallbackData, prefix="dp"):
    """A choice in the registration form: a field (who, time, trade, school) and its value ("-": none)."""

    field: str
    value: str


@dataclass(frozen=True)
class LeadEdit(CallbackData, prefix="de"):
    """"Sửa" one field of the registration's summary."""

    field: str


@dataclass(frozen=True)
class LeadConfirm(CallbackData, prefix="dc"):
    """The registration's summary: "y" sends it, "n" drops it."""

    answer: str


@dataclass(frozen=True)
class LeadParent(CallbackData, prefix="dpa"):
    """An under-16's parent agrees to the registration (True), or not yet (False)."""

    agreed: bool
