"""Cross-validation of the answer engine on a content base: each entry's example questions are split
into K folds; for each fold the engine is built without them and asked them."""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class EntryScore:
    """Outcomes of one entry's held-out questions."""

    asked: int = 0
    correct: int = 0
    declined: int = 0
    wrong: int = 0


@dataclass
class CrossValidation:
    """Outcomes over all folds: overall, per entry, and the wrong answers (expected, got)."""

    k: int
    examples: int | None = None
    asked: int = 0
    correct: int = 0
    declined: int = 0
    wrong: int = 0
    first_right: int = 0  # the engine's first candidate is the expected entry (answered or not)
    # declined, but the expected entry is among the suggestions (the buttons a declined person sees)
    declined_suggested: int = 0
    per_entry: dict[str, EntryScore] = field(default_factory=lambda: defaultdict(EntryScore))
    confusions: Counter = field(default_factory=Counter)
    wrong_examples: list[tuple[str, str, str]] = field(default_factory=list)  # (expected, got, question)

    def share(self, n: int) -> float:
        """`n` as a share of the questions asked."""
        return n / self.asked if self.asked else 0.0


SUGGESTED = 3  # suggestions a declined question shows (handlers.faq.SUGGEST_MAX)


def folds_of(questions: tuple[str, ...], k: int) -> list[int]:
    """The fold of each question: round robin, so every fold keeps some of an entry's phrasings."""
    return [i % k for i in range(len(questions))]


def split(questions: tuple[str, ...], fold: int, k: int,
          examples: int | None) -> tuple[list[str], tuple[str, ...]]:
    """(asked, kept) of one entry in one fold. Without `examples`: round-robin folds, the fold's questions
    are asked. With `examples`: the entry keeps only that many examples, rotating with the fold (a new
    entry with a handful of phrasings), and all its other questions are asked."""
    if examples is None:
        where = folds_of(questions, k)
        return ([q for q, f in zip(questions, where, strict=True) if f == fold],
                tuple(q for q, f in zip(questions, where, strict=True) if f != fold))
    if len(questions) <= examples:
        return [], questions
    start = (fold * examples) % len(questions)
    chosen = {(start + i) % len(questions) for i in range(examples)}
    return ([q for i, q in enumerate(questions) if i not in chosen],
            tuple(q for i, q in enumerate(questions) if i in chosen))


def cross_validate(entries: Iterable, k: int = 5, build: Callable | None = None,
                   min_kept: int = 1, examples: int | None = None) -> CrossValidation:
    """Cross-validate `build` (default `AnswerEngine.build`) over `entries` with `k` folds. An entry
    keeps at least `min_kept` questions in every fold (its others are asked); its title always stays.
    With `examples`, each entry keeps only that many example questions per fold (see `split`)."""
    if build is None:
        from bot.engine.core import AnswerEngine

        build = AnswerEngine.build
    entries = list(entries)
    result = CrossValidation(k, examples)
    for fold in range(k):
        train, asked = [], []
        for e in entries:
            qs = tuple(e.questions)
            held, kept = split(qs, fold, k, examples)
            if len(kept) < min_kept:
                held, kept = [], qs
            train.append(dataclasses.replace(e, questions=kept))
            asked += [(e.id, q) for q in held]
        engine = build(train)
        for expected, q in asked:
            m = engine.answer(q)
            score = result.per_entry[expected]
            score.asked += 1
            result.asked += 1
            first = m.id if m.id is not None else (m.suggestions[0][0] if m.suggestions else None)
            result.first_right += first == expected
            if m.id == expected:
                score.correct += 1
                result.correct += 1
            elif m.id is None:
                score.declined += 1
                result.declined += 1
                result.declined_suggested += expected in [s[0] for s in m.suggestions[:SUGGESTED]]
            else:
                score.wrong += 1
                result.wrong += 1
                result.confusions[(expected, m.id)] += 1
                result.wrong_examples.append((expected, m.id, q))
    return result


def shuffled(entries: Iterable, seed: int) -> list:
    """`entries` with each one's example questions in another order (seed 0: as written). The folds
    are round robin over that order, so each seed is another assignment of questions to folds."""
    entries = list(entries)
    if not seed:
        return entries
    rng = random.Random(seed)
    out = []
    for e in sorted(entries, key=lambda e: e.id):  # the same order for the same seed, whatever the input
        qs = list(e.questions)
        rng.shuffle(qs)
        out.append(dataclasses.replace(e, questions=tuple(qs)))
    return out


def repeated(entries: Iterable, k: int, repeats: int, examples: int | None = None,
             build: Callable | None = None) -> list[CrossValidation]:
    """`cross_validate` over `repeats` fold assignments: the round robin of the written order first,
    then `repeats - 1` shuffles (seeds 1, 2, ...). One assignment's figure moves by about a
    hundredth whichever questions share a fold; their mean and spread are the honest figure."""
    entries = list(entries)
    return [cross_validate(shuffled(entries, seed), k=k, build=build, examples=examples)
            for seed in range(repeats)]


def summary(cvs: list[CrossValidation]) -> list[str]:
    """Mean, standard deviation and range of each share over several fold assignments."""
    lines = [f"over {len(cvs)} fold assignments (round robin, then shuffled with seeds 1-{len(cvs) - 1}):"]
    for name, attr in (("answered correctly", "correct"), ("declined", "declined"),
                       ("answered wrongly", "wrong"), ("first candidate right", "first_right")):
        v = [cv.share(getattr(cv, attr)) for cv in cvs]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        lines.append(f"  {name}: mean {statistics.mean(v):.3f}, sd {sd:.3f}, "
                     f"range {min(v):.3f}-{max(v):.3f}")
    return lines


def report(cv: CrossValidation, worst: int = 10, per_entry: bool = True) -> list[str]:
    """The printed report of a cross-validation (the lines `chonnghe eval --cross-validate` prints)."""
    lines = [
        f"cross-validation: {cv.k} folds, {cv.asked} held-out questions"
        + (f", {cv.examples} examples kept per entry" if cv.examples else ""),
        f"answered correctly: {cv.share(cv.correct):.3f} ({cv.correct}/{cv.asked})",
        f"declined: {cv.share(cv.declined):.3f} ({cv.declined}/{cv.asked}); of those, the right entry among "
        f"the {SUGGESTED} suggestions shown: {cv.declined_suggested / max(cv.declined, 1):.3f} "
        f"({cv.declined_suggested}/{cv.declined})",
        f"answered wrongly: {cv.share(cv.wrong):.3f} ({cv.wrong}/{cv.asked})",
        f"first candidate right (forced choice): {cv.share(cv.first_right):.3f} "
        f"({cv.first_right}/{cv.asked})",
    ]
    if per_entry:
        lines.append("per entry (asked, correct, declined, wrong), worst first:")
        rows = sorted(cv.per_entry.items(),
                      key=lambda kv: (-kv[1].wrong, kv[1].correct / max(kv[1].asked, 1), kv[0]))
        for ident, s in rows:
            lines.append(f"  {ident:<40} {s.asked:3d} {s.correct:3d} {s.declined:3d} {s.wrong:3d}")
    if cv.confusions:
        lines.append(f"worst confusions (expected -> answered, count), top {worst}:")
        for (exp, got), n in cv.confusions.most_common(worst):
            lines.append(f"  {exp} -> {got}  {n}")
        lines.append("wrong answers:")
        for exp, got, q in cv.wrong_examples:
            lines.append(f"  expected {exp}  got {got}  {q}")
    return lines
