"""`chonnghe ask` and `chonnghe eval`: the answer engine from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bot.cli.common import add_content_option, content_or_exit, settings_or_exit

GREETING = ("Xin chào! Mình là trợ lý hướng nghiệp Chọn nghề – Chọn trường. Bạn cứ hỏi về nghề, trường, "
            "tuyển sinh hay chính sách hỗ trợ nhé.")
THANKS = "Rất vui được giúp bạn! Nếu còn thắc mắc, bạn cứ hỏi tiếp nhé."
EMPTY = "Bạn hãy gõ câu hỏi về học nghề, trường, tuyển sinh hoặc chính sách hỗ trợ nhé."
NONE = "Xin lỗi, mình chưa có câu trả lời chắc chắn cho câu hỏi này."


def register(sub: argparse._SubParsersAction) -> None:
    """Add `ask` and `eval` to the command parser."""
    ask = sub.add_parser("ask", help="answer one question (or one per line of --file)")
    ask.add_argument("question", nargs="?", help="the question, in quotes")
    ask.add_argument("--file", metavar="FILE", help="one question per line (TSV: the last column)")
    ask.add_argument("--json", action="store_true", help="print JSON objects, one per line")
    add_content_option(ask)
    ask.set_defaults(func=run_ask)

    ev = sub.add_parser("eval", help=("accuracy on a labelled TSV (expected<TAB>question; '-' = out of "
                                      "scope), or --cross-validate on the content's own example questions"))
    ev.add_argument("file", metavar="FILE.tsv", nargs="?")
    ev.add_argument("--cross-validate", metavar="K", type=int, nargs="?", const=5, default=None,
                    help="split each entry's example questions into K folds (default 5); per fold, build "
                         "without them and ask them")
    ev.add_argument("--examples", metavar="N", type=int,
                    help=("with --cross-validate: each entry keeps only N example questions (rotating with "
                          "the fold) and is asked all its others, as a new entry with a handful of "
                          "phrasings"))
    ev.add_argument("--brief", action="store_true", help="with --cross-validate: no per-entry table")
    ev.add_argument("--repeats", metavar="R", type=int, default=1,
                    help=("with --cross-validate: also R-1 shuffled assignments of questions to folds, "
                          "and the mean, spread and range of each share over all R (default 1)"))
    add_content_option(ev)
    ev.set_defaults(func=run_eval)


def _engine(args: argparse.Namespace):
    from bot.engine import AnswerEngine

    base = content_or_exit(settings_or_exit(args))
    return base, AnswerEngine.for_content(base)


def reply_text(base, match) -> str:
    """What the bot says for a match (the same texts the conversation uses for these cases)."""
    if match.kind == "answer":
        return base.entries[match.id].answer
    if match.kind == "greeting":
        return GREETING
    if match.kind == "thanks":
        return THANKS
    if match.kind == "empty":
        return EMPTY
    lines = [NONE]
    if match.suggestions:
        lines.append("Có thể bạn muốn hỏi:")
        lines += [f"- {base.entries[i].title}" for i, _ in match.suggestions if i in base.entries]
    lines.append("Bạn có thể gõ /tuvan để gửi câu hỏi tới cán bộ tư vấn.")
    return "\n".join(lines)


def _questions(path: str) -> list[str]:
    """One question per line (a TSV line's last column); a TSV header line ("...<TAB>question") is skipped."""
    lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    if lines and "\t" in lines[0] and lines[0].rsplit("\t", 1)[-1].strip().lower() == "question":
        lines = lines[1:]
    return [line.split("\t")[-1] for line in lines]


def explain(question: str, match, answer: str) -> dict:
    """The JSON object `ask --json` prints: the decision, why, and the three best candidates."""
    return {
        "question": question,
        "id": match.id,
        "kind": match.kind,
        "score": match.score,
        "reason": match.reason,
        "candidates": [{"id": ident, "probability": p, "coverage": cov}
                       for ident, p, cov in match.candidates],
        "answer": answer,
    }


def run_ask(args: argparse.Namespace) -> int:
    """Answer the question (or each line of --file) and print the match; returns the exit status."""
    if not args.question and not args.file:
        print("chonnghe ask: give a question or --file FILE", file=sys.stderr)
        return 2
    base, engine = _engine(args)
    questions = _questions(args.file) if args.file else [args.question]
    for q in questions:
        m = engine.answer(q)
        answer = reply_text(base, m)
        if args.json:
            print(json.dumps(explain(q, m, answer), ensure_ascii=False))
        else:
            if args.file:
                print(f"? {q}")
            print(answer)
            if args.file:
                print()
    return 0


def run_cross_validation(args: argparse.Namespace) -> int:
    """Print the engine's K-fold cross-validation on the content's own example questions."""
    from bot.engine.crossval import repeated, report, summary

    if args.cross_validate < 2:
        print("chonnghe eval: --cross-validate needs K >= 2", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print("chonnghe eval: --repeats needs R >= 1", file=sys.stderr)
        return 2
    base = content_or_exit(settings_or_exit(args))
    from bot.engine import AnswerEngine

    def build(entries):  # the questions on other subjects are never held out: they are no entry's
        return AnswerEngine.for_content(base, entries)

    cvs = repeated(base.entries.values(), k=args.cross_validate, repeats=args.repeats, examples=args.examples,
                   build=build)
    print("\n".join(report(cvs[0], per_entry=not args.brief)))
    if len(cvs) > 1:
        print("\n".join(summary(cvs)))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Print the engine's accuracy, speed and misses on a TSV of expected ids and questions."""
    if args.cross_validate is not None:
        return run_cross_validation(args)
    if not args.file:
        print("chonnghe eval: give FILE.tsv or --cross-validate [K]", file=sys.stderr)
        return 2
    _base, engine = _engine(args)
    rows = []
    for n, line in enumerate(Path(args.file).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or (n == 1 and line.lower().startswith("expected\t")):
            continue
        expected, _, question = line.partition("\t")
        rows.append((expected.strip(), question))
    times, misses = [], []
    inscope = correct = wrong = outscope = declined = 0
    for expected, question in rows:
        t0 = time.perf_counter()
        m = engine.answer(question)
        times.append((time.perf_counter() - t0) * 1000)
        if expected == "-":
            outscope += 1
            declined += m.id is None
            ok = m.id is None
        else:
            inscope += 1
            correct += m.id == expected
            wrong += m.id is not None and m.id != expected
            ok = m.id == expected
        if not ok:
            misses.append((expected, m.id or "-", m.score, question))
    times.sort()

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(p * len(times)))] if times else 0.0

    print(f"questions: {len(rows)} (in scope {inscope}, out of scope {outscope})")
    print(f"top-1 accuracy (in scope): {correct / inscope if inscope else 0:.3f} ({correct}/{inscope})")
    print(f"answered wrongly (in scope): {wrong / inscope if inscope else 0:.3f} ({wrong}/{inscope})")
    print(f"declined (out of scope): {declined / outscope if outscope else 0:.3f} ({declined}/{outscope})")
    print(f"time per question: p50 {pct(0.5):.3f} ms, p99 {pct(0.99):.3f} ms")
    if misses:
        print(f"misses ({len(misses)}):")
        for expected, got, score, q in misses:
            print(f"  expected {expected}  got {got}  score {score:.3f}  {q}")
    return 0
