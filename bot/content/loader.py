"""Loads and validates the YAML content base; every problem carries its file and line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

MAX_ANSWER = 1800
MIN_QUESTIONS = 5
LEVELS = {"so_cap": "Sơ cấp", "trung_cap": "Trung cấp", "cao_dang": "Cao đẳng"}
PROVINCES = {"hai_phong": "Hải Phòng", "hai_duong": "Hải Dương (cũ)"}
ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
FAQ_FIELDS = {"id", "title", "questions", "answer", "source", "reviewed", "related", "valid_until", "tags"}
TRADE_FIELDS = (FAQ_FIELDS - {"answer"}) | {"group", "summary", "learn", "jobs", "suits", "levels"}
TRADE_FIELDS |= {"riasec"}  # validated by the new loader
SCHOOL_FIELDS = {"id", "name", "former_province", "levels", "trades", "website", "source", "reviewed", "tags"}
SCHOOL_FIELDS |= {"staff_chat_id"}  # validated by the new loader


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


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

    def expired(self, today: date) -> bool:
        return self.valid_until is not None and self.valid_until < today


@dataclass(frozen=True, slots=True)
class Trade:
    id: str
    title: str
    group: str
    summary: str
    learn: tuple[str, ...]
    jobs: tuple[str, ...]
    suits: str
    levels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class School:
    id: str
    name: str
    former_province: str
    levels: tuple[str, ...]
    trades: tuple[str, ...]
    website: str | None
    source: str
    reviewed: date


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    label: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    label: str


@dataclass
class ContentBase:
    """Everything loaded from one content folder. `entries` holds only what may be served today."""

    root: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    expired: dict[str, Entry] = field(default_factory=dict)
    trades: dict[str, Trade] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # parsed files by relative path (campaigns, texts)
    campaigns: tuple = ()  # bot.content.campaigns.Campaign, validated from campaigns.yaml
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def schools_for(self, trade_id: str) -> list[School]:
        return [s for s in self.schools.values() if trade_id in s.trades]

    def trades_in(self, group_id: str) -> list[Trade]:
        return [t for t in self.trades.values() if t.group == group_id]


class ContentError(Exception):
    """Raised when content has errors; str() is the full report."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(format_report(problems))


def format_report(problems: list[Problem]) -> str:
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    lines = [str(p) for p in problems]
    lines.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)


# --- YAML with line numbers -------------------------------------------------------------------

LINE_KEY = "__line__"
LINES_KEY = "__lines__"


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the line of each mapping and of each of its keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping and isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    mapping[LINE_KEY] = node.start_mark.line + 1
    mapping[LINES_KEY] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(value: Any) -> Any:
    """Plain data without the line bookkeeping (for raw files handed to other modules)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in (LINE_KEY, LINES_KEY)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


# --- Validation helpers -----------------------------------------------------------------------


class _Checker:
    def __init__(self, base: ContentBase, file: str):
        self.base = base
        self.file = file

    def problem(self, line: int, message: str, severity: str = "error") -> None:
        self.base.problems.append(Problem(self.file, line, message, severity))

    def line_of(self, item: dict, key: str) -> int:
        return item.get(LINES_KEY, {}).get(key, item.get(LINE_KEY, 0))

    def text(self, item: dict, key: str, required: bool = True, max_len: int | None = None) -> str | None:
        value = item.get(key)
        if value is None:
            if required:
                self.problem(item.get(LINE_KEY, 0), f"missing field '{key}'")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(self.line_of(item, key), f"'{key}' must be non-empty text")
            return None
        value = value.strip()
        if max_len is not None and len(value) > max_len:
            self.problem(self.line_of(item, key), f"'{key}' is {len(value)} characters (at most {max_len})")
        return value

    def text_list(self, item: dict, key: str, required: bool = True, min_items: int = 0) -> tuple[str, ...]:
        value = item.get(key)
        if value is None:
            if required:
                self.problem(item.get(LINE_KEY, 0), f"missing field '{key}'")
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(self.line_of(item, key), f"'{key}' must be a list of non-empty texts")
            return ()
        result = tuple(v.strip() for v in value)
        if len(result) < min_items:
            self.problem(self.line_of(item, key), f"'{key}' has {len(result)} item(s) (at least {min_items})")
        return result

    def day(self, item: dict, key: str, required: bool = True) -> date | None:
        value = item.get(key)
        if value is None:
            if required:
                self.problem(item.get(LINE_KEY, 0), f"missing field '{key}'")
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.problem(self.line_of(item, key), f"'{key}' must be a date YYYY-MM-DD (got {value!r})")
            return None

    def ident(self, item: dict, prefix: str | None = None) -> str | None:
        value = self.text(item, "id")
        if value is None:
            return None
        if not ID_RE.match(value):
            self.problem(self.line_of(item, "id"), f"id {value!r} may hold only a-z, 0-9, '_' and '.'")
            return None
        if prefix and not value.startswith(prefix):
            self.problem(self.line_of(item, "id"), f"id {value!r} must start with {prefix!r}")
        return value

    def unknown_fields(self, item: dict, allowed: set[str]) -> None:
        for key in item:
            if key in (LINE_KEY, LINES_KEY):
                continue
            if key not in allowed:
                self.problem(self.line_of(item, key), f"unknown field {key!r}", "warning")

    def items(self, data: Any, key: str) -> list[dict]:
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


# --- Loading ----------------------------------------------------------------------------------


def _read_yaml(base: ContentBase, path: Path) -> Any:
    rel = str(path.relative_to(base.root)) if path.is_relative_to(base.root) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        base.problems.append(Problem(rel, 0, f"cannot read file: {exc}"))
        return None
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 0
        problem = getattr(exc, "problem", None) or str(exc)
        base.problems.append(Problem(rel, line, f"YAML error: {problem}"))
        return None


def render_trade(trade: Trade, schools: list[School]) -> str:
    """The answer text of a trade page."""
    parts = [f"{trade.title}", trade.summary]
    if trade.learn:
        parts.append("Học gì:\n" + "\n".join(f"- {x}" for x in trade.learn))
    if trade.jobs:
        parts.append("Việc làm sau khi ra trường:\n" + "\n".join(f"- {x}" for x in trade.jobs))
    if trade.suits:
        parts.append(f"Phù hợp với: {trade.suits}")
    if trade.levels:
        parts.append("Trình độ đào tạo: " + ", ".join(LEVELS[lv] for lv in trade.levels if lv in LEVELS) + ".")
    if schools:
        parts.append("Trường có đào tạo (theo nguồn công khai):\n" + "\n".join(f"- {s.name}" for s in schools))
    else:
        parts.append("Danh sách trường đào tạo nghề này đang được cập nhật; bạn có thể hỏi tư vấn viên.")
    return "\n\n".join(parts)


def load_content(root: Path | str, today: date | None = None) -> ContentBase:
    """Load every content file under `root`. Never raises for bad content: see `.problems`."""
    root = Path(root)
    today = today or date.today()
    base = ContentBase(root=root)
    if not root.is_dir():
        base.problems.append(Problem(str(root), 0, "content folder not found"))
        return base

    id_origin: dict[str, tuple[str, int]] = {}
    pending_related: list[tuple[str, int, str, tuple[str, ...]]] = []

    def claim(checker: _Checker, ident: str, line: int) -> bool:
        if ident in id_origin:
            f, ln = id_origin[ident]
            checker.problem(line, f"duplicate id {ident!r} (first defined at {f}:{ln})")
            return False
        id_origin[ident] = (checker.file, line)
        return True

    def add_entry(checker: _Checker, entry: Entry) -> None:
        if entry.expired(today):
            checker.problem(entry.line, f"entry {entry.id!r} expired on {entry.valid_until} and is not served",
                            "warning")
            base.expired[entry.id] = entry
        else:
            base.entries[entry.id] = entry
        if entry.related:
            pending_related.append((checker.file, entry.line, entry.id, entry.related))

    # FAQ entries
    for path in sorted((root / "faq").glob("*.yaml")):
        data = _read_yaml(base, path)
        if data is None:
            continue
        checker = _Checker(base, str(path.relative_to(root)))
        for item in checker.items(data, "entries"):
            checker.unknown_fields(item, FAQ_FIELDS)
            line = item[LINE_KEY]
            ident = checker.ident(item)
            title = checker.text(item, "title")
            questions = checker.text_list(item, "questions", min_items=MIN_QUESTIONS)
            answer = checker.text(item, "answer", max_len=MAX_ANSWER)
            source = checker.text(item, "source")
            reviewed = checker.day(item, "reviewed")
            related = checker.text_list(item, "related", required=False)
            tags = checker.text_list(item, "tags", required=False)
            valid_until = checker.day(item, "valid_until", required=False)
            _check_question_dupes(checker, item, questions)
            if None in (ident, title, answer, source, reviewed) or not claim(checker, ident, line):
                continue
            add_entry(checker, Entry(ident, "faq", title, questions, answer, source, reviewed, related, tags,
                                     valid_until, checker.file, line))

    # Schools (read before trades: a trade's answer lists its schools)
    school_items: list[tuple[_Checker, dict]] = []
    path = root / "schools.yaml"
    if path.exists():
        data = _read_yaml(base, path)
        if data is not None:
            checker = _Checker(base, "schools.yaml")
            for item in checker.items(data, "schools"):
                checker.unknown_fields(item, SCHOOL_FIELDS)
                ident = checker.ident(item, prefix="truong.")
                name = checker.text(item, "name")
                province = checker.text(item, "former_province")
                if province is not None and province not in PROVINCES:
                    checker.problem(checker.line_of(item, "former_province"),
                                    f"former_province must be one of {sorted(PROVINCES)}")
                levels = checker.text_list(item, "levels")
                for lv in levels:
                    if lv not in LEVELS:
                        checker.problem(checker.line_of(item, "levels"), f"unknown level {lv!r}")
                trades = checker.text_list(item, "trades", required=False)
                website = checker.text(item, "website", required=False)
                source = checker.text(item, "source")
                reviewed = checker.day(item, "reviewed")
                if None in (ident, name, source, reviewed) or not claim(checker, ident, item[LINE_KEY]):
                    continue
                base.schools[ident] = School(ident, name, province or "", levels, trades, website, source,
                                             reviewed)
                school_items.append((checker, item))

    # Trades
    path = root / "trades.yaml"
    if path.exists():
        data = _read_yaml(base, path)
        if data is not None:
            checker = _Checker(base, "trades.yaml")
            for g in checker.items(data, "groups"):
                gid, label = checker.ident(g), checker.text(g, "label")
                if gid and label:
                    base.groups[gid] = Group(gid, label)
            for item in checker.items(data, "trades"):
                checker.unknown_fields(item, TRADE_FIELDS)
                line = item[LINE_KEY]
                ident = checker.ident(item, prefix="nghe.")
                title = checker.text(item, "title")
                group = checker.text(item, "group")
                if group is not None and group not in base.groups:
                    checker.problem(checker.line_of(item, "group"), f"unknown group {group!r}")
                summary = checker.text(item, "summary")
                learn = checker.text_list(item, "learn")
                jobs = checker.text_list(item, "jobs")
                suits = checker.text(item, "suits", required=False) or ""
                levels = checker.text_list(item, "levels")
                for lv in levels:
                    if lv not in LEVELS:
                        checker.problem(checker.line_of(item, "levels"), f"unknown level {lv!r}")
                questions = checker.text_list(item, "questions", min_items=MIN_QUESTIONS)
                source = checker.text(item, "source")
                reviewed = checker.day(item, "reviewed")
                related = checker.text_list(item, "related", required=False)
                tags = checker.text_list(item, "tags", required=False)
                valid_until = checker.day(item, "valid_until", required=False)
                _check_question_dupes(checker, item, questions)
                if None in (ident, title, group, summary, source, reviewed) or not claim(checker, ident, line):
                    continue
                trade = Trade(ident, title, group, summary, learn, jobs, suits, levels)
                base.trades[ident] = trade
                answer = render_trade(trade, base.schools_for(ident))
                if len(answer) > MAX_ANSWER:
                    checker.problem(line, f"rendered answer of {ident!r} is {len(answer)} characters "
                                          f"(at most {MAX_ANSWER}); shorten its lists")
                add_entry(checker, Entry(ident, "trade", title, questions, answer, source, reviewed, related,
                                         tags, valid_until, checker.file, line))

    for checker, item in school_items:
        for trade_id in base.schools[item["id"].strip()].trades:
            if trade_id not in base.trades:
                checker.problem(checker.line_of(item, "trades"), f"unknown trade {trade_id!r}")

    # Topics
    path = root / "topics.yaml"
    if path.exists():
        data = _read_yaml(base, path)
        if data is not None:
            checker = _Checker(base, "topics.yaml")
            for item in checker.items(data, "topics"):
                tid, label = checker.ident(item), checker.text(item, "label")
                desc = checker.text(item, "description", required=False) or ""
                if tid and label:
                    if tid in base.topics:
                        checker.problem(item[LINE_KEY], f"duplicate topic {tid!r}")
                    base.topics[tid] = Topic(tid, label, desc)
    else:
        base.problems.append(Problem("topics.yaml", 0, "missing file: the subscription topics"))

    # Other files are kept raw for the modules that own them (campaigns, bot texts).
    for extra in sorted(root.glob("*.yaml")):
        if extra.name in {"schools.yaml", "trades.yaml", "topics.yaml"}:
            continue
        data = _read_yaml(base, extra)
        if data is not None:
            base.raw[extra.name] = _strip(data)

    # The campaign calendar has its own module (it needs the topics loaded above).
    from bot.content.campaigns import check_calendar

    check_calendar(base)

    known = set(base.entries) | set(base.expired)
    for file, line, ident, related in pending_related:
        for target in related:
            if target == ident:
                base.problems.append(Problem(file, line, f"{ident!r} lists itself in 'related'"))
            elif target not in known:
                base.problems.append(Problem(file, line, f"{ident!r}: related id {target!r} does not exist"))
    base.problems.sort(key=lambda p: (p.file, p.line))
    return base


def _check_question_dupes(checker: _Checker, item: dict, questions: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for q in questions:
        key = " ".join(q.lower().split())
        if key in seen:
            checker.problem(checker.line_of(item, "questions"), f"question listed twice: {q!r}", "warning")
        seen.add(key)
