"""What the content base holds once loaded: entries, trades, schools, topics, the quiz, and the base
itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from bot.content.problems import Problem

if TYPE_CHECKING:
    from bot.content.campaigns import Campaign
    from bot.content.texts import Texts

MAX_ANSWER = 1800
MIN_QUESTIONS = 5
LEVELS = {"so_cap": "Sơ cấp", "trung_cap": "Trung cấp", "cao_dang": "Cao đẳng"}
PROVINCES = {"hai_phong": "Hải Phòng", "hai_duong": "Hải Dương (cũ)"}
# Holland's six interest types, in their usual order (Realistic, Investigative, Artistic, Social,
# Enterprising, Conventional).
RIASEC = ("R", "I", "A", "S", "E", "C")
# Buttons an FAQ entry's answer may carry (`actions:`): the interest quiz, the registration for counselling.
ACTIONS = {"quiz": "the interest quiz (/tracnghiem)",
           "lead": "the registration for counselling (/dangkytuvan)"}


@dataclass(frozen=True, slots=True)
class Entry:
    """Something the bot can answer: an FAQ entry or a trade (answer rendered from its fields)."""

    id: str
    kind: str  # faq | trade
    title: str
    questions: tuple[str, ...]
    answer: str
    source: str
    reviewed: date
    related: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    valid_until: date | None = None
    file: str = ""
    line: int = 0
    actions: tuple[str, ...] = ()  # buttons under the answer, of ACTIONS

    def expired(self, today: date) -> bool:
        """True once `valid_until` has passed."""
        return self.valid_until is not None and self.valid_until < today


@dataclass(frozen=True, slots=True)
class Trade:
    """A trade (nghề) as shown on its page; `riasec` holds its 1-3 Holland codes (empty when not given)."""

    id: str
    title: str
    group: str
    summary: str
    learn: tuple[str, ...]
    jobs: tuple[str, ...]
    suits: str
    levels: tuple[str, ...]
    riasec: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class School:
    """A school, with only what a public source supports; `staff_chat_id` is its own staff chat, if any."""

    id: str
    name: str
    former_province: str
    levels: tuple[str, ...]
    trades: tuple[str, ...]
    website: str | None
    source: str
    reviewed: date
    staff_chat_id: str | None = None


@dataclass(frozen=True, slots=True)
class Topic:
    """A subscription topic."""

    id: str
    label: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """A group of trades (the first level of the trade browser)."""

    id: str
    label: str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuizChoice(_Frozen):
    """One answer button of the quiz and the points it gives the item's type."""

    id: str
    label: str
    score: int


class QuizType(_Frozen):
    """One RIASEC type: its code, its Vietnamese name and a plain one-sentence explanation."""

    code: str
    name: str
    explain: str


class QuizItem(_Frozen):
    """One statement of the quiz and the type it measures."""

    id: str
    type: str
    text: str


class Quiz(_Frozen):
    """The interest quiz (content/quiz.yaml), validated: six types, the same number of items each."""

    source: str
    reviewed: date
    choices: tuple[QuizChoice, ...]
    types: tuple[QuizType, ...]
    items: tuple[QuizItem, ...]

    def type(self, code: str) -> QuizType:
        """The type with this code (KeyError if none)."""
        for t in self.types:
            if t.code == code:
                return t
        raise KeyError(code)

    def choice(self, choice_id: str) -> QuizChoice | None:
        """The answer button with this id (None for an id the quiz never offered)."""
        return next((c for c in self.choices if c.id == choice_id), None)

    def items_of(self, code: str) -> tuple[QuizItem, ...]:
        """The items that measure type `code`."""
        return tuple(i for i in self.items if i.type == code)


@dataclass
class ContentBase:
    """Everything loaded from one content folder. `entries` holds only what may be served today;
    `texts` is the catalogue of bot texts (defaults with the overrides of texts.yaml), built once here."""

    root: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    expired: dict[str, Entry] = field(default_factory=dict)
    trades: dict[str, Trade] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # parsed files by name, without line bookkeeping
    campaigns: tuple[Campaign, ...] = ()
    quiz: Quiz | None = None
    texts: Texts | None = None
    others: tuple[str, ...] = ()  # questions on other subjects (other_subjects.yaml), never answered
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The problems of severity error."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def schools_for(self, trade_id: str) -> list[School]:
        """The schools whose `trades` list this trade."""
        return [s for s in self.schools.values() if trade_id in s.trades]

    def trades_in(self, group_id: str) -> list[Trade]:
        """The trades of one group."""
        return [t for t in self.trades.values() if t.group == group_id]

    def trades_of_type(self, code: str) -> list[Trade]:
        """The trades whose RIASEC codes include `code`, strongest first (its position in the codes)."""
        found = [t for t in self.trades.values() if code in t.riasec]
        return sorted(found, key=lambda t: t.riasec.index(code))
