"""A supervised ranker: a multinomial logistic regression trained on the content's own texts (each
entry's title, example questions, tags and answer are labelled with the entry), over the engine's
features (content words and adjacent word pairs, folded), tf-idf weighted and length-normalised.

With about ten examples per entry it ranks unseen phrasing better than the best single example's
BM25 does: it learns which words tell entries apart (see docs/engine.md, "Retrieval"). numpy only:
the design matrix is sparse (a few dozen features per text) and handled as index arrays."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np


class Ranker:
    """Multinomial logistic regression over sparse term counts, fitted by full-batch gradient descent
    with Nesterov momentum (well under a second on the shipped content)."""

    L2 = 1e-5  # ridge on the weights, per training text
    STEPS = 50
    RATE = 20.0  # gradient step; inputs are unit vectors, so this is stable
    MOMENTUM = 0.9

    def __init__(self, docs: Sequence[tuple[int, Counter]], n_classes: int,
                 weights: Sequence[float] | None = None) -> None:
        """Fit on `docs`, (class, term counts) pairs; `weights` per document (default 1)."""
        df: Counter = Counter()
        for _, terms in docs:
            df.update(terms.keys())
        self.vocab = {t: j for j, t in enumerate(sorted(df))}
        n = len(docs)
        self.idf = np.array([math.log((1 + n) / (1 + df[t])) + 1 for t in sorted(df)])
        self.n_classes = n_classes
        rows, cols, vals = [], [], []
        for r, (_, terms) in enumerate(docs):
            idx, v = self._vector(terms)
            rows.append(np.full(len(idx), r, dtype=np.int64))
            cols.append(idx)
            vals.append(v)
        self.W = np.zeros((len(self.vocab), n_classes), dtype=np.float32)
        if not n or not self.vocab:
            return
        labels = np.array([c for c, _ in docs], dtype=np.int64)
        sw = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        self._fit(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), labels, sw)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted model as plain arrays (for the disk cache; see `from_arrays`)."""
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        return {"terms": np.array(terms, dtype=str), "idf": self.idf, "W": self.W}

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> Ranker:
        """A ranker rebuilt from `to_arrays` output, without fitting."""
        self = cls.__new__(cls)
        self.vocab = {str(t): j for j, t in enumerate(data["terms"])}
        self.idf, self.W = data["idf"], data["W"]
        self.n_classes = self.W.shape[1] if self.W.ndim == 2 else 0
        if self.W.shape != (len(self.vocab), self.n_classes) or len(self.idf) != len(self.vocab):
            raise ValueError("inconsistent ranker arrays")
        return self

    def _vector(self, terms: Counter | Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Known terms' indexes and their weights (1 + log tf) * idf, scaled to unit length."""
        counts = terms if isinstance(terms, Counter) else Counter(terms)
        pairs = [(self.vocab[t], f) for t, f in counts.items() if t in self.vocab]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.array([j for j, _ in pairs], dtype=np.int64)
        v = np.array([1.0 + math.log(f) for _, f in pairs]) * self.idf[idx]
        return idx, v / math.sqrt(v.dot(v))  # np.linalg.norm's own formula, without its overhead

    def _fit(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, labels: np.ndarray,
             sw: np.ndarray) -> None:
        """Gradient descent in the span of the training texts: the weights are X.T @ A, so the scores
        of the training texts are K @ A with K = X @ X.T (texts x texts, small), and a gradient step
        on the weights is the same step on A. Exactly primal gradient descent, at a fraction of the
        cost while texts are fewer than features."""
        n, c = len(labels), self.n_classes
        y = np.zeros((n, c), dtype=np.float32)  # single precision: twice as fast, and enough here
        y[np.arange(n), labels] = 1.0
        # K = X @ X.T from each feature's texts (X is sparse: a dense copy would be texts x features).
        k = np.zeros((n, n))
        by_col = np.argsort(cols, kind="stable")
        col_starts = np.searchsorted(cols[by_col], np.arange(len(self.vocab) + 1))
        sizes = np.diff(col_starts)
        single = by_col[col_starts[:-1][sizes == 1]]  # a feature of one text adds to its diagonal only
        np.add.at(k, (rows[single], rows[single]), vals[single] ** 2)
        for j in np.flatnonzero(sizes > 1):
            seg = by_col[col_starts[j]:col_starts[j + 1]]
            v = vals[seg]
            k[np.ix_(rows[seg], rows[seg])] += np.outer(v, v)
        k = k.astype(np.float32)
        scale = (sw / sw.sum())[:, None].astype(np.float32)
        # No intercept: an entry with more examples gets no head start, and a text of unknown words
        # gets equal probabilities (cross-validated: as good as with one).
        a = np.zeros((n, c), dtype=np.float32)
        va = np.zeros_like(a)
        for _ in range(self.STEPS):
            al = a + self.MOMENTUM * va
            s = k @ al
            s -= s.max(axis=1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            g = (p - y) * scale
            va = self.MOMENTUM * va - self.RATE * (g + self.L2 * al)
            a = a + va
        # The weights W = X.T @ A, feature by feature (segment sums over the column-sorted entries).
        contrib = a[rows[by_col]] * vals[by_col][:, None]
        self.W = np.add.reduceat(contrib, col_starts[:-1], axis=0).astype(np.float32)

    def probabilities(self, terms: Iterable[str]) -> np.ndarray:
        """Each class's probability for a text given by its terms (the engine's features)."""
        idx, v = self._vector(terms)
        s = v @ self.W[idx] if len(idx) else np.zeros(self.n_classes)
        s = np.exp(s - s.max())
        return s / s.sum()
