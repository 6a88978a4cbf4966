"""Attach a question to a content entry as a new example, or record it as a question on another subject
(other_subjects.yaml, which the engine learns to decline): written into the YAML file keeping its
comments and layout (ruamel.yaml round-trip), checked on a temporary copy of the whole content base with
the same checker as `chonnghe content check`, then put in place atomically (os.replace). A write that
would break validation is refused with the report; nothing half-written is ever left on disk."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from bot.content import format_report, load_content
from bot.content.files.others import FILE as OTHERS_FILE

# A new other_subjects.yaml starts with what it is for (staff create it from the console).
OTHERS_HEADER = ("# Câu hỏi về chủ đề khác: bot không trả lời, nhưng học từ đó cách nhận ra câu phải\n"
                 "# từ chối (docs/content.md). Cán bộ thêm từ trang Câu hỏi chưa trả lời của bảng điều\n"
                 "# khiển.\n")


class AttachError(Exception):
    """The question was not attached; `report` says why (in Vietnamese, or the checker's report)."""

    def __init__(self, report: str):
        super().__init__(report)
        self.report = report


@dataclass(frozen=True)
class Attached:
    """A question attached to an entry: the content file written and the entry's id."""

    path: Path
    entry_id: str


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, key order, quoting and block styles are kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _find(node, entry_id: str):
    """The mapping with `id: entry_id` and a `questions` list, anywhere in the document."""
    if isinstance(node, dict):
        if node.get("id") == entry_id and isinstance(node.get("questions"), list):
            return node
        for value in node.values():
            found = _find(value, entry_id)
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node:
            found = _find(item, entry_id)
            if found is not None:
                return found
    return None


def with_question(text: str, entry_id: str, question: str) -> str:
    """`text` (a YAML document) with `question` appended to the questions of `entry_id`."""
    yaml = _yaml()
    doc = yaml.load(text)
    entry = _find(doc, entry_id)
    if entry is None:
        raise AttachError(f"Không tìm thấy mục {entry_id} (có danh sách câu hỏi) trong tệp.")
    if any(str(q).strip().lower() == question.lower() for q in entry["questions"]):
        raise AttachError(f"Câu hỏi này đã có trong mục {entry_id}.")
    entry["questions"].append(question)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def with_other(text: str, question: str) -> str:
    """`text` (other_subjects.yaml, or "" for a new file) with `question` appended to its questions."""
    yaml = _yaml()
    doc = yaml.load(text) if text.strip() else None
    if doc is None:
        doc = yaml.load(OTHERS_HEADER + "questions: []\n")
    if not isinstance(doc, dict) or not isinstance(doc.get("questions"), list):
        raise AttachError(f"Tệp {OTHERS_FILE} không có danh sách 'questions'.")
    if any(str(q).strip().lower() == question.lower() for q in doc["questions"]):
        raise AttachError("Câu hỏi này đã có trong danh sách chủ đề khác.")
    if not doc["questions"]:  # a flow-style "[]" would stay one line: start a block list instead
        doc["questions"] = type(doc["questions"])()
    doc["questions"].append(question)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def attach(content_dir: Path, entry_file: str, entry_id: str, question: str) -> Attached:
    """Add `question` to `entry_id` (defined in `entry_file`, relative to `content_dir`), validated first."""
    question = _one_line(question)
    root = Path(content_dir).resolve()
    path = (root / entry_file).resolve()
    if root not in path.parents or not path.is_file():
        raise AttachError(f"Không có tệp nội dung {entry_file}.")
    updated = with_question(path.read_text(encoding="utf-8"), entry_id, question)

    def check(base) -> None:
        if entry_id not in base.entries or question not in base.entries[entry_id].questions:
            raise AttachError(f"Sau khi ghi, mục {entry_id} không có câu hỏi mới: không ghi.")

    _write_checked(root, path, updated, check)
    return Attached(path, entry_id)


def add_other(content_dir: Path, question: str) -> Path:
    """Add `question` to the questions on other subjects (the file is created if absent), validated first."""
    question = _one_line(question)
    root = Path(content_dir).resolve()
    path = root / OTHERS_FILE
    updated = with_other(path.read_text(encoding="utf-8") if path.is_file() else "", question)

    def check(base) -> None:
        if question not in base.others:
            raise AttachError(f"Sau khi ghi, {OTHERS_FILE} không có câu hỏi mới: không ghi.")

    _write_checked(root, path, updated, check)
    return path


def _one_line(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise AttachError("Câu hỏi đang trống.")
    return question


def _write_checked(root: Path, path: Path, updated: str, check) -> None:
    """Put `updated` in `path` if the whole content, with it, passes the checker and `check(base)`."""
    with tempfile.TemporaryDirectory(prefix="chonnghe-content-") as tmp:
        copy = Path(tmp) / "content"
        shutil.copytree(root, copy)
        (copy / path.relative_to(root)).write_text(updated, encoding="utf-8")
        base = load_content(copy)
        if not base.ok:
            raise AttachError(format_report(base.problems))
        check(base)
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(updated)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(staged, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(staged, path)  # atomic: readers see the old file or the new one, never half of it
    except BaseException:
        if os.path.exists(staged):
            os.unlink(staged)
        raise
