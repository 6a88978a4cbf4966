"""An FAQ entry may carry action buttons (`actions: [quiz]`); an unknown action is an error with its line,
and the shipped "không biết nên học nghề gì" entry offers the quiz."""

from __future__ import annotations

import shutil

from bot.content import load_content
from tests.conftest import CONTENT_DIR
from tests.fakes import FIXTURE_CONTENT


def _with_actions(tmp_path, actions: str):
    root = tmp_path / "content"
    shutil.copytree(FIXTURE_CONTENT, root)
    path = root / "faq" / "test.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    related: [test.tuyen_sinh, nghe.han]\n",
                                 f"    related: [test.tuyen_sinh, nghe.han]\n    actions: {actions}\n", 1),
                    encoding="utf-8")
    return load_content(root)


def test_known_actions_load(tmp_path):
    base = _with_actions(tmp_path, "[quiz, lead]")
    assert base.ok, base.problems
    assert base.entries["test.hoc_phi"].actions == ("quiz", "lead")
    assert base.entries["test.tuyen_sinh"].actions == ()


def test_unknown_action_is_an_error_with_its_line(tmp_path):
    base = _with_actions(tmp_path, "[quizz]")
    (problem,) = base.errors
    assert (problem.file == "faq/test.yaml" and "unknown action 'quizz'" in problem.message
            and problem.line > 1)


def test_shipped_entry_offers_the_quiz():
    base = load_content(CONTENT_DIR)
    assert base.ok
    assert base.entries["huongnghiep.chon_nghe"].actions == ("quiz",)
