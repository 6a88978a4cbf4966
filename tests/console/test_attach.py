"""Attaching a question to an entry rewrites only that line: every shipped content file keeps its comments,
quoting and layout through the round trip (bot.console.attach)."""

from __future__ import annotations

import difflib
import shutil

import pytest

from bot.console.attach import AttachError, attach, with_question
from bot.content import load_content
from tests.conftest import CONTENT_DIR


def test_every_entry_of_every_file_takes_a_question_as_one_added_line():
    base = load_content(CONTENT_DIR)
    files: dict[str, list[str]] = {}
    for entry in base.entries.values():
        files.setdefault(entry.file, []).append(entry.id)
    assert len(files) >= 2
    for name, ids in files.items():
        text = (CONTENT_DIR / name).read_text(encoding="utf-8")
        for entry_id in ids:
            updated = with_question(text, entry_id, "câu hỏi mới: có 'nháy' và dấu #không phải chú thích")
            changed = [line for line in difflib.ndiff(text.splitlines(), updated.splitlines())
                       if line.startswith(("+ ", "- "))]
            assert len(changed) == 1 and changed[0].startswith("+ "), (name, entry_id, changed[:4])


def test_attach_writes_a_checked_file_and_refuses_a_duplicate(tmp_path):
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    attach(content, "trades.yaml", "nghe.han", "thợ hàn học ở trường nào gần nhà")
    base = load_content(content)
    assert base.ok and "thợ hàn học ở trường nào gần nhà" in base.entries["nghe.han"].questions
    with pytest.raises(AttachError, match="đã có"):
        attach(content, "trades.yaml", "nghe.han", "thợ hàn học ở trường nào gần nhà")
    with pytest.raises(AttachError, match="Không có tệp"):
        attach(content, "../outside.yaml", "nghe.han", "x")
