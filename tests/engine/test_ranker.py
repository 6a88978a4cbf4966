"""The supervised ranker (multinomial logistic regression on the content's own texts) and the
decision's choice model (a conditional logit with a "none of them" option)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import numpy as np
import pytest

from bot.content import Entry
from bot.engine import AnswerEngine, core
from bot.engine.core import fit_choice, scores_to_probabilities
from bot.engine.ranker import Ranker


def docs(*texts: tuple[int, str]) -> list[tuple[int, Counter]]:
    return [(c, Counter(t.split())) for c, t in texts]


TRAIN = docs((0, "hoc phi bao nhieu"), (0, "hoc phi cao dang"), (0, "tien hoc trung cap"),
             (1, "mien hoc phi"), (1, "mien hoc phi lop 9"), (1, "duoc mien tien hoc"),
             (2, "ky tuc xa"), (2, "cho o ky tuc xa"), (2, "o noi tru"))


def test_the_ranker_learns_the_words_that_tell_entries_apart():
    r = Ranker(TRAIN, 3)
    assert int(np.argmax(r.probabilities("mien tien".split()))) == 1  # "miễn" outweighs the shared "tiền"
    assert int(np.argmax(r.probabilities("tien cao dang".split()))) == 0
    assert int(np.argmax(r.probabilities("xa o".split()))) == 2
    p = r.probabilities("khong biet".split())  # nothing known: no entry is preferred
    assert np.allclose(p, 1 / 3)


def primal_fit(train: list[tuple[int, Counter]], n_classes: int) -> np.ndarray:
    """The same model fitted the textbook way: gradient descent on the feature weights directly."""
    model = Ranker([], n_classes)
    ref = Ranker(train, n_classes)
    model.vocab, model.idf = ref.vocab, ref.idf
    x = np.zeros((len(train), len(ref.vocab)))
    for i, (_, terms) in enumerate(train):
        idx, v = model._vector(terms)
        x[i, idx] = v
    y = np.eye(n_classes)[[c for c, _ in train]]
    w = np.zeros((x.shape[1], n_classes))
    vw = np.zeros_like(w)
    m, rate = Ranker.MOMENTUM, Ranker.RATE
    for _ in range(Ranker.STEPS):
        wl = w + m * vw
        s = x @ wl
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        vw = m * vw - rate * (x.T @ ((p - y) / len(train)) + Ranker.L2 * wl)
        w = w + vw
    return w


def test_fitting_in_the_span_of_the_texts_is_primal_gradient_descent():
    r = Ranker(TRAIN, 3)
    w = primal_fit(TRAIN, 3)
    assert np.allclose(r.W, w, atol=1e-3 * np.abs(w).max())


def test_the_ranker_survives_its_arrays():
    r = Ranker(TRAIN, 3)
    again = Ranker.from_arrays(r.to_arrays())
    q = "mien hoc phi".split()
    assert np.array_equal(again.probabilities(q), r.probabilities(q))
    broken = r.to_arrays()
    broken["idf"] = broken["idf"][:2]
    with pytest.raises(ValueError):
        Ranker.from_arrays(broken)


def test_the_choice_model_recovers_its_weights():
    rng = np.random.default_rng(3)
    true = np.array([2.0, -1.0, 0.5])
    rows, starts, label = [], [], []
    for _ in range(600):
        starts.append(len(rows))
        x = rng.normal(size=(int(rng.integers(1, 5)), 3))
        rows += list(x)
        e = np.exp(x @ true)
        pick = rng.choice(len(x) + 1, p=np.append(e, 1.0) / (e.sum() + 1.0))  # the last: none of them
        label.append(starts[-1] + pick if pick < len(x) else -1)
    x = np.array(rows)
    w, _, scale = fit_choice(x, np.array(starts), np.array(label), np.ones(len(starts)), l2=1e-6)
    assert np.allclose(w[1:] / scale, true, atol=0.25)
    p = scores_to_probabilities(np.array([3.0, 1.0, -2.0]), grouped=True)
    assert p.sum() < 1.0 and p[0] > p[1] > p[2]


def test_the_ranker_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("CHONNGHE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(core, "_RANKER_CACHE", {})
    monkeypatch.setattr(AnswerEngine, "FIT_MIN_ENTRIES", 10**6)  # the hand-set rule: only the ranker fits
    entries = [Entry(f"x.e{i}", "faq", f"chủ đề số {i}", (f"câu hỏi về mục {i}", f"hỏi thêm mục {i}"), "a",
                     "s", date(2026, 1, 1)) for i in range(4)]
    first = AnswerEngine.build(entries)
    assert len(list((tmp_path / "engine").glob("*.ranker.npz"))) == 1
    monkeypatch.setattr(core, "_RANKER_CACHE", {})

    def no_fit(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(Ranker, "_fit", no_fit)
    again = AnswerEngine.build(entries)
    assert np.array_equal(again.ranker.W, first.ranker.W)
    assert again.answer("hỏi thêm mục 2").candidates == first.answer("hỏi thêm mục 2").candidates


def test_a_large_base_has_no_ranker(monkeypatch):
    monkeypatch.setattr(AnswerEngine, "RANKER_MAX_ENTRIES", 3)
    entries = [Entry(f"x.e{i}", "faq", f"chủ đề {i}", (f"câu hỏi {i}",), "a", "s", date(2026, 1, 1))
               for i in range(4)]
    engine = AnswerEngine.build(entries, fit=False)
    assert engine.ranker is None and engine.rank("câu hỏi 2").results[0][0] == "x.e2"
