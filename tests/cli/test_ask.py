"""`chonnghe ask` and `chonnghe eval` through the real entry point, on the shipped content."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.cli import main
from tests.conftest import CONTENT_DIR, ROOT

DATA = ROOT / "tests" / "data"


def run(capsys, *argv: str) -> str:
    assert main([*argv, "--content", str(CONTENT_DIR)]) == 0
    return capsys.readouterr().out


def test_ask_prints_the_answer(capsys):
    out = run(capsys, "ask", "hoc nghe han o dau")
    assert out.startswith("Nghề Hàn")


def test_ask_json(capsys):
    obj = json.loads(run(capsys, "ask", "trượt lớp 10 công lập thì học gì", "--json"))
    assert obj["id"] == "tuyensinh.truot_lop_10" and obj["question"] == "trượt lớp 10 công lập thì học gì"
    assert isinstance(obj["score"], float) and obj["answer"]


def test_ask_json_declines_out_of_scope(capsys):
    obj = json.loads(run(capsys, "ask", "thời tiết Hà Nội ngày mai", "--json"))
    assert obj["id"] is None and "chưa có câu trả lời chắc chắn" in obj["answer"]


def test_ask_file_keeps_order_and_reads_last_tsv_column(tmp_path, capsys):
    f = tmp_path / "q.tsv"
    f.write_text(
        "expected\tquestion\nnghe.han\thoc han o dau\n-\t\n-\tgiá vàng hôm nay\nmuon lam dau bep nha hang\n",
        encoding="utf-8",
    )
    lines = run(capsys, "ask", "--file", str(f), "--json").splitlines()
    objs = [json.loads(line) for line in lines]
    assert [o["question"] for o in objs] == [
        "hoc han o dau",
        "",
        "giá vàng hôm nay",
        "muon lam dau bep nha hang",
    ]
    assert [o["id"] for o in objs] == ["nghe.han", None, None, "nghe.nau_an"]


def test_eval_prints_the_figures_and_misses(tmp_path, capsys):
    f = tmp_path / "set.tsv"
    f.write_text(
        "expected\tquestion\nnghe.han\thoc han o dau\nnghe.o_to\thoc han o dau\n-\tgiá vàng hôm nay\n",
        encoding="utf-8",
    )
    out = run(capsys, "eval", str(f))
    assert "top-1 accuracy (in scope): 0.500 (1/2)" in out
    assert "answered wrongly (in scope): 0.500 (1/2)" in out
    assert "declined (out of scope): 1.000 (1/1)" in out
    assert "p50" in out and "p99" in out
    assert "expected nghe.o_to  got nghe.han" in out


@pytest.mark.parametrize(("name", "accuracy", "declined"), [
    ("dev-questions.tsv", 0.95, 0.90),  # issue 12: the dev set stays at or above 0.95 / 0.90
    ("paraphrases.tsv", 0.95, 0.93),
    ("out-of-scope.tsv", 0.0, 0.96),  # questions on other subjects only, written apart from the content
    # Written apart from the content and the other sets, many of them long messages with context:
    # the first was used to develop the fifth and sixth sessions' changes, the second only measured.
    ("fresh-phrasing.tsv", 0.88, 0.94),
    ("held-out-phrasing.tsv", 0.85, 0.93),
])
def test_quality_on_labelled_sets(capsys, name, accuracy, declined):
    """Floors for the shipped content; docs/engine.md records the current figures. Issue 12: at most
    2 % of in-scope questions answered wrongly."""
    out = run(capsys, "eval", str(DATA / name))
    acc = float(out.split("top-1 accuracy (in scope): ")[1].split()[0])
    wrong = float(out.split("answered wrongly (in scope): ")[1].split()[0])
    dec = float(out.split("declined (out of scope): ")[1].split()[0])
    assert acc >= accuracy and wrong <= 0.02 and dec >= declined, out


def test_every_catalogue_id_has_an_entry():
    import yaml

    from bot.content import load_content

    catalogue = ROOT.parent / "shared" / "catalogue" / "intents.yaml"
    ids = (
        [t["id"] for t in yaml.safe_load(catalogue.read_text(encoding="utf-8"))]
        if catalogue.exists()
        else sorted(
            {
                line.split("\t")[0]
                for line in (DATA / "dev-questions.tsv").read_text(encoding="utf-8").splitlines()[1:]
                if not line.startswith("-")
            }
        )
    )
    base = load_content(CONTENT_DIR)
    assert base.ok, base.problems
    assert [i for i in ids if i not in base.entries] == []


def test_python_dash_m_bot_is_the_same_command():
    out = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "ngày 4/10 là ngày gì", "--json", "--content", str(CONTENT_DIR)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(out.stdout)["id"] == "sukien.ngay_ky_nang"


def test_broken_content_is_refused_with_the_report(tmp_path, capsys):
    (tmp_path / "faq").mkdir()
    (tmp_path / "faq" / "x.yaml").write_text("entries:\n  - id: [oops\n", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["ask", "hoc han", "--content", str(tmp_path)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "faq/x.yaml:" in err and "YAML error" in err


def test_ask_json_explains_the_decision(capsys):
    obj = json.loads(run(capsys, "ask", "học nghề hàn ở đâu", "--json"))
    assert obj["id"] == "nghe.han" and obj["kind"] == "answer" and obj["reason"] == "answered"
    assert len(obj["candidates"]) == 3 and obj["candidates"][0]["id"] == "nghe.han"
    probabilities = [c["probability"] for c in obj["candidates"]]
    assert probabilities == sorted(probabilities, reverse=True) and obj["score"] == probabilities[0]
    declined = json.loads(run(capsys, "ask", "giá vàng hôm nay bao nhiêu", "--json"))
    assert declined["id"] is None and declined["reason"].startswith("declined: ")
    assert json.loads(run(capsys, "ask", "xin chào", "--json"))["reason"] == "greeting"


def test_eval_cross_validate_prints_shares_per_entry_and_confusions(capsys):
    out = run(capsys, "eval", "--cross-validate", "3")
    assert out.startswith("cross-validation: 3 folds, ")
    shares = {name: float(out.split(f"{name}: ")[1].split()[0])
              for name in ("answered correctly", "declined", "answered wrongly")}
    assert abs(sum(shares.values()) - 1.0) < 0.002, out
    assert "per entry (asked, correct, declined, wrong)" in out and "nghe.han" in out


@pytest.mark.parametrize(("extra", "wrong", "correct"), [
    ((), 0.03, 0.66),  # held-out phrasing: at most 3 % answered wrongly (issue 12)
    (("--examples", "5"), 0.05, 0.52),  # entries with 5 examples each: at most 5 %
])
def test_cross_validated_wrong_answers_stay_rare(capsys, extra, wrong, correct):
    """Floors for the shipped content, cross-validated; docs/engine.md records the current figures."""
    out = run(capsys, "eval", "--cross-validate", "5", *extra)
    shares = {name: float(out.split(f"{name}: ")[1].split()[0])
              for name in ("answered correctly", "answered wrongly")}
    assert shares["answered wrongly"] <= wrong and shares["answered correctly"] >= correct, out


def test_eval_cross_validate_repeats_over_shuffled_folds(capsys):
    out = run(capsys, "eval", "--cross-validate", "3", "--repeats", "2", "--brief")
    assert "over 2 fold assignments (round robin, then shuffled with seeds 1-1):" in out
    wrong = out.split("  answered wrongly: mean ")[1].split()
    assert float(wrong[0].rstrip(",")) <= 0.05 and wrong[1] == "sd" and "range" in wrong
    assert main(["eval", "--cross-validate", "3", "--repeats", "0", "--content", str(CONTENT_DIR)]) == 2


def test_eval_needs_a_file_or_cross_validate(capsys):
    assert main(["eval", "--content", str(CONTENT_DIR)]) == 2
    assert main(["eval", "--cross-validate", "1", "--content", str(CONTENT_DIR)]) == 2
