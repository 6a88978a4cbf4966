"""The answer engine: Vietnamese normalisation, BM25 over folded syllables and syllable pairs, and a
coverage-based confidence that decides between answering and "no confident answer".

See docs/engine.md for the design and the measured figures."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import yaml
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from bot.engine.ranker import Ranker

log = logging.getLogger(__name__)

MAX_CHARS = 600

ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.yaml")


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, tuple[str, ...]]:
    """The abbreviation dictionary (data file), folded keys to folded word tuples."""
    data = yaml.safe_load(ABBREVIATIONS_FILE.read_text(encoding="utf-8"))["expand"]
    return {str(k): tuple(str(v).split()) for k, v in data.items()}


LANGUAGE_FILE = Path(__file__).with_name("language.yaml")


@lru_cache(maxsize=1)
def language() -> dict:
    """The language facts (data file `language.yaml`)."""
    return yaml.safe_load(LANGUAGE_FILE.read_text(encoding="utf-8"))


def _words(key: str) -> frozenset[str]:
    value = language()[key]
    return frozenset(value.split() if isinstance(value, str) else map(str, value))


def _rewrites(key: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    return tuple((tuple(k.split()), tuple(str(v).split())) for k, v in language()[key].items())


STOP_ACCENTED = _words("stop_accented")
NOT_ABBREVIATIONS = _words("not_abbreviations")  # accented words whose folded form is an abbreviation
# Filler, folded (as typed without diacritics). Every accented filler word folds into it.
STOP = _words("stop") | frozenset(unicodedata.normalize("NFD", w.replace("đ", "d")).encode("ascii", "ignore")
                                  .decode() for w in STOP_ACCENTED)
GENERIC = _words("generic")
GENERIC_WEIGHT = 0.3


class Kept(str):
    """A word whose folded form is filler but which the person typed as a content word ("mã", "thi",
    "dễ" in a message written with diacritics)."""

    __slots__ = ()


def filler(tok: str) -> bool:
    """Whether a token is filler: folded filler, unless the person typed it as a content word."""
    return tok in STOP and type(tok) is not Kept


GREET = re.compile(r"^(xin chao|chao|hi|hello|helo|alo|hey|chao ban|chao bot|chao ad|chao admin|xin chao bot)"
                   r"( (ban|bot|ad|admin|em|anh|chi|a|nhe|nha|moi nguoi))*$")
THANKS = re.compile(r"^(ok |oke |vang |da )?(cam on|camon|thanks|thank you|thank|tks|thks|ty|cam on nhieu)"
                    r"( (ban|bot|ad|admin|nhe|nha|nhieu|a|em|anh|chi|lam))*$")

OLD_TONE = {  # new-style placement -> old-style (hòa), only at syllable end
    "oà": "òa", "oá": "óa", "oả": "ỏa", "oã": "õa", "oạ": "ọa",
    "oè": "òe", "oé": "óe", "oẻ": "ỏe", "oẽ": "õe", "oẹ": "ọe",
    "uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
}
_TONE_RE = re.compile("(" + "|".join(OLD_TONE) + r")(?![a-zàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩị"
                                                 r"òóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ])")


_NOT_WORD = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    """NFC, lower case, one tone-mark convention, symbols as spaces, at most MAX_CHARS characters."""
    text = unicodedata.normalize("NFC", text[: MAX_CHARS * 4]).lower()
    text = _TONE_RE.sub(lambda m: OLD_TONE[m.group(1)], text)
    text = _NOT_WORD.sub(" ", text)
    text = re.sub(r"(.)\1{2,}", r"\1", text)
    return " ".join(text.split())[:MAX_CHARS]


def fold(text: str) -> str:
    """`text` without diacritics, đ written d."""
    if text.isascii():
        return text
    if len(text) <= 12:
        return _fold_word(text)
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def _fold_word(word: str) -> str:
    text = unicodedata.normalize("NFD", word.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


# Multi-word forms rewritten before matching: "bằng cấp 3" is the upper secondary diploma, "khi nào"
# asks for a time, "không muốn" negates (see language.yaml).
PHRASES = _rewrites("phrases") + _rewrites("intent_phrases") + _rewrites("negation") + _rewrites("synonyms")
# Question words and negation are made of filler words: typed as content words ("cơ khí nào") they are not.
FILLER_PHRASES = frozenset(p for p, _ in _rewrites("intent_phrases") + _rewrites("negation"))
# Words that fold onto content words, decided by their diacritics when the person typed them.
ACCENTED = {k: tuple(str(v).split()) for k, v in language()["accented"].items()}
FINAL_PARTICLES = _words("final_particles")
NUMBERS = {str(k): str(v) for k, v in language()["numbers"].items()}
NUMBER_CUES = _words("number_cues")
# After a counting word other than "thứ", only the unambiguous number words ("năm" is a year, "tư"
# private, "nhất" most).
PLAIN_NUMBERS = frozenset(NUMBERS) - {"nam", "tu", "nhat", "nhi"}


_THOUSANDS = re.compile(r"(\d+)k")
_ALNUM = re.compile(r"[a-z0-9]+")
_DOUBLED_END = re.compile(r"([a-z])\1+$")
# Where a message's sentences and clauses end: punctuation, line breaks, and the conjunctions that
# join a situation to its question ("... bỏ học từ lớp 8 thì có đủ điều kiện ..."), written with their
# accents: unaccented "thi" is also an exam, "ma" a ghost or a code ("mã").
_CLAUSE_BREAK = re.compile(r"[,.;:?!\n]+|\s(?:thì|nhưng|mà)\s", re.IGNORECASE)
MAX_PARTS = 6  # parts of a long message asked on their own (each costs one more `answer`)


@lru_cache(maxsize=65536)
def _parts(word: str) -> tuple[str, ...]:
    """The folded pieces of one written word, a doubled final letter collapsed unless an abbreviation
    ("cntt"): no Vietnamese syllable ends in a doubled letter."""
    abbr = abbreviations()
    return tuple(tok if tok in abbr else _DOUBLED_END.sub(r"\1", tok) for tok in _ALNUM.findall(fold(word)))


def tokens(text: str) -> list[str]:
    """Folded words with abbreviations expanded (see `_tokens`); a fresh list each call."""
    return list(_tokens(normalize(text)))


# Words that make "hp" mean học phí rather than Hải Phòng ("hp bn", "miễn hp", "hp có rẻ không").
FEE_WORDS = frozenset({"bao", "bn", "bnh", "tien", "mien", "giam", "dong", "nop", "re", "dat", "thu", "phi",
                       "nghin", "trieu"})


@lru_cache(maxsize=16384)
def _tokens(norm: str) -> tuple[str, ...]:
    """Folded words of a normalised text (`normalize`) with abbreviations expanded and repeated letters
    collapsed. In a message typed with diacritics, a word is filler only if its accented form is (then
    "mã" and "thi" are content words)."""
    words = norm.split()
    accents = any(fold(w) != w for w in words)
    abbr = abbreviations()
    raw: list[str] = []
    literal: set[int] = set()  # positions in `raw` of words that are never an abbreviation as written
    for j, word in enumerate(words):
        if word in ACCENTED:
            raw += ACCENTED[word]
            continue
        parts = _parts(word)
        if word in NOT_ABBREVIATIONS:
            literal.add(len(raw))
        for tok in parts:
            if tok in FINAL_PARTICLES and j == len(words) - 1:
                continue
            if (accents and tok in STOP and len(parts) == 1 and tok not in abbr and tok not in GENERIC
                    and word not in STOP_ACCENTED):
                tok = Kept(tok)
            raw.append(tok)
    out: list[str] = []
    for i, tok in enumerate(raw):
        m = _THOUSANDS.fullmatch(tok) if tok[-1:] == "k" else None
        if m:
            out += [m.group(1), "nghin"]
            continue
        if tok in ("dk", "đk"):
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            out += (["dang", "ky"]
                    if nxt in {"nhan", "hoc", "xet", "tuyen", "online", "tu", "thi", "vao", "ho"}
                    else (["duoc"] if nxt in {"khong", "ko", "k", "kh", "hok", ""} else ["dieu", "kien"]))
            continue
        if tok == "hp":  # học phí when the question is about money, else the city (Hải Phòng)
            out += ["hoc", "phi"] if FEE_WORDS.intersection(raw) else ["hai", "phong"]
            continue
        if type(tok) is Kept or i in literal:
            # Written so, the word is itself ("hong" and "hông" are không, "hồng" is pink, and the
            # district Hồng Bàng).
            out.append(tok)
            continue
        out += abbr.get(tok, (tok,))
    return tuple(_numbers(_phrases(out)))


def _numbers(toks: list[str]) -> list[str]:
    """Number words after an ordinal or a counting word become digits ("cách thứ ba" -> "cach thu 3")."""
    out = list(toks)
    for j in range(1, len(toks)):
        prev, tok = toks[j - 1], toks[j]
        if tok in NUMBERS and (prev == "thu" or (prev in NUMBER_CUES and tok in PLAIN_NUMBERS)):
            out[j] = NUMBERS[tok]
    return out


_PHRASES_BY_FIRST: dict[str, list] = defaultdict(list)
for _pattern, _replacement in PHRASES:
    _PHRASES_BY_FIRST[_pattern[0]].append((_pattern, _replacement))


def _phrases(toks: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(toks):
        for pattern, replacement in _PHRASES_BY_FIRST.get(toks[i], ()):
            if tuple(toks[i:i + len(pattern)]) == pattern and not (
                    pattern in FILLER_PHRASES and any(type(t) is Kept for t in toks[i:i + len(pattern)])):
                out += replacement
                i += len(pattern)
                break
        else:
            out.append(toks[i])
            i += 1
    return out


def word_forms(text: str) -> list[tuple[str, str]]:
    """(folded, as written) for each plain word of `text` that carries diacritics: "lái" -> ("lai",
    "lái"). Abbreviations and words without diacritics are left out (they say nothing about accents)."""
    return _word_forms(normalize(text))


def _word_forms(norm: str) -> list[tuple[str, str]]:
    """`word_forms` of an already normalised text."""
    abbr = abbreviations()
    out = []
    for word in norm.split():
        folded = fold(word)
        if folded != word and folded.isalpha() and folded not in abbr and word not in ACCENTED:
            out.append((folded, word))
    return out


@dataclass(frozen=True)
class Match:
    """The engine's verdict on one question: kind ("answer", "none", "empty", "greeting", "thanks"), the
    entry answered (if any), its score, the normalised question and the suggestions for a decline."""

    kind: str
    id: str | None
    score: float
    normalized: str
    suggestions: tuple[tuple[str, float], ...]
    # Why: "answered", "declined: low confidence", "declined: too close to the runner-up", "greeting"...
    reason: str = ""
    # The best three candidates, (id, probability the engine gives it, coverage), best first.
    candidates: tuple[tuple[str, float, float], ...] = ()


@dataclass(frozen=True)
class Ranking:
    """What retrieval found, before any decision: candidates (id, rank score, coverage), best first."""

    kind: str  # ranked | none | empty | greeting | thanks
    normalized: str
    results: tuple[tuple[str, float, float], ...] = ()
    unknown: float = 0.0  # share of the question's weight in words the whole base has never seen
    generic_only: bool = False
    exact: str | None = None  # for a generic-only question, the entry that lists it word for word
    other: float = 0.0  # how close the question is to the closest question on another subject

    @cached_property
    def features(self) -> np.ndarray:
        """The decision signals, one row per candidate (computed once)."""
        return _features(self)


def _features(r: Ranking) -> np.ndarray:
    """One row of decision signals per candidate: coverage, rank score, lead over the best other
    candidate (relative), the question's unknown share, and the candidate's rank position. Built in
    plain Python: for a dozen candidates, numpy's calls cost more than the arithmetic."""
    ranks = [x[1] for x in r.results]
    margin = [min(1.0, max(-1.0, (v - other) / max(v, 1e-9)))
              for v, other in zip(ranks, _best_of_others(ranks), strict=True)]
    if r.results and len(r.results[0]) > 3:
        erel = [x[4] for x in r.results]  # the entry-level BM25, relative
        emargin = [min(1.0, max(-1.0, v - other))
                   for v, other in zip(erel, _best_of_others(erel), strict=True)]
    else:
        emargin = [0.0] * len(ranks)
    # Where the signals agree: a linear model cannot multiply them itself. The ranker's probability
    # and the best example's BM25 each weighed by coverage; the ranker's first also ranked first, or
    # also best by BM25; coverage discounted by the words the whole base has never seen. (A result is
    # (id, rank score, coverage, BM25 relative, entry BM25, title, extra, named, trade, close, ranker
    # probability, its lead, its log), as `AnswerEngine.rank` builds it.)
    learnt = [x[10] for x in r.results]
    top = max(range(len(learnt)), key=lambda j: (learnt[j], -j)) if learnt else -1
    rows = []
    for j, x in enumerate(r.results):
        cov = min(1.0, x[2])
        rel = x[3]
        agreed = float(j == top)
        rows.append([cov, x[1], margin[j], r.unknown, float(j == 0), *x[3:], emargin[j],
                     learnt[j] * cov, rel * cov, agreed * float(j == 0), agreed * float(rel >= 0.999),
                     cov * (1.0 - r.unknown), r.other, x[9] - r.other])
    return np.array(rows, dtype=np.float64).reshape(len(ranks), -1)


def _best_of_others(values: list[float]) -> list[float]:
    """For each value, the largest of the others (0 when there are none): the runner-up for the first
    of the largest, the largest for every other."""
    if len(values) < 2:
        return [0.0] * len(values)
    first = max(range(len(values)), key=values.__getitem__)
    runner_up = max(v for j, v in enumerate(values) if j != first)
    return [runner_up if j == first else values[first] for j in range(len(values))]


class RuleDecision:
    """The hand-set rule, for bases too small to fit on: answer when coverage >= CONF and the winner
    leads the runner-up by MARGIN (or coverage reaches SURE). Its "probability" is the coverage."""

    CONF, SURE, MARGIN = 0.51, 0.75, 0.05
    fitted = False
    by_rank = True  # candidates stay in rank order

    def probabilities(self, r: Ranking) -> np.ndarray:
        """Each candidate's coverage, which the rule takes as its probability."""
        x = r.features
        return x[:, 0] * (1 + 1e-6 * x[:, 4])  # coverage; ties keep the rank order

    def decide(self, r: Ranking, p: np.ndarray, order: list[int]) -> str:
        """The reason ("answered" or "declined: ...") the rule gives for the best candidate."""
        return self.decide_for(r, order[0])

    def decide_for(self, r: Ranking, n: int) -> str:
        """The rule's verdict on candidate `n`: its coverage, and its lead in the ranking."""
        x = r.features
        cov, margin = x[n, 0], x[n, 2]
        if cov < self.CONF:
            return "declined: low confidence"
        if margin < self.MARGIN and cov < self.SURE:
            return "declined: too close to the runner-up"
        return "answered"


class FittedDecision:
    """A logistic model over the candidates' signals, fitted on the content base itself by
    cross-validation; answer when the best candidate's probability reaches the fitted threshold."""

    fitted = True
    by_rank = False  # candidates are ordered by probability
    FLOOR_FIRST_ONLY = False  # the floor also applies when the most probable candidate is not ranked first

    def __init__(self, weights: np.ndarray, mean: np.ndarray, scale: np.ndarray, threshold: float,
                 floor: float, grouped: bool = False):
        self.weights, self.mean, self.scale = weights, mean, scale
        self.threshold, self.floor = threshold, max(0.0, min(floor, threshold))
        self.grouped = grouped
        self.rule = RuleDecision()

    def probabilities(self, r: Ranking) -> np.ndarray:
        """The model's probability, per candidate, that it is the entry the question is about."""
        z = (r.features - self.mean) / self.scale
        return scores_to_probabilities(z @ self.weights[1:] + self.weights[0], self.grouped)

    def decide(self, r: Ranking, p: np.ndarray, order: list[int]) -> str:
        """Answer above the threshold; between the break-even floor and the threshold, only what the
        coverage rule would answer too, when the best candidate is also the one ranked first."""
        best = order[0]
        if p[best] >= self.threshold:
            return "answered"
        if p[best] >= self.floor and (best == 0 or not self.FLOOR_FIRST_ONLY):
            return self.rule.decide_for(r, best)
        return "declined: low confidence"


def scores_to_probabilities(s: np.ndarray, grouped: bool) -> np.ndarray:
    """Per-candidate probabilities from scores: independent logistics, or (`grouped`) one choice among
    the candidates and "none of them" (score 0), a softmax."""
    if not grouped:
        return 1.0 / (1.0 + np.exp(-s))
    top = max(0.0, float(s.max()))
    e = np.exp(s - top)
    return e / (math.exp(-top) + e.sum())


def fit_choice(x: np.ndarray, starts: np.ndarray, label: np.ndarray, weights: np.ndarray, l2: float = 1e-2,
               steps: int = 30) -> tuple[np.ndarray, ...]:
    """Weights (bias first), mean and scale of a conditional logit: each question chooses one of its
    candidates (rows `starts[g]` to the next start) or none of them (score 0); `label[g]` is the row
    chosen, -1 for none. Newton's method with a little L2; `weights` per question."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(x))))
    rw = weights[group]
    chosen = label >= 0
    target = z[label[chosen]].T @ weights[chosen]
    reg = l2 * np.eye(z.shape[1])
    reg[0, 0] = 0.0

    def state(w: np.ndarray) -> tuple[float, np.ndarray]:
        """The penalised negative log-likelihood at `w`, and each row's probability."""
        sc = z @ w
        top = np.maximum(np.maximum.reduceat(sc, starts), 0.0)
        e = np.exp(sc - top[group])
        total = np.exp(-top) + np.add.reduceat(e, starts)
        loss = weights @ (top + np.log(total)) - target @ w + 0.5 * w @ reg @ w
        return float(loss), e / total[group]

    w = np.zeros(z.shape[1])
    loss, p = state(w)
    for _ in range(steps):
        m = np.add.reduceat(z * p[:, None], starts, axis=0)  # per question: expected row
        grad = (z * (rw * p)[:, None]).sum(axis=0) - target + reg @ w
        hess = (z * (rw * p)[:, None]).T @ z - (m * weights[:, None]).T @ m + reg + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        for _ in range(30):  # damped: halve the step until the loss falls (Newton alone can overshoot)
            new_loss, new_p = state(w - step)
            if new_loss <= loss:
                break
            step = step / 2
        else:
            break
        w, loss, p = w - step, new_loss, new_p
        if np.abs(step).max() < 1e-6:
            break
    return w, mean, scale


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 30,
                 weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Weights (bias first), mean and scale of a logistic regression fitted by Newton's method
    (`weights`: one per row, default 1)."""
    sw = np.ones(len(x)) if weights is None else weights
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mean) / scale])
    w = np.zeros(z.shape[1])
    reg = l2 * np.eye(z.shape[1])
    reg[0, 0] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (sw * (p - y)) + reg @ w
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + reg + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w, mean, scale


_FIT_CACHE: dict[str, FittedDecision | RuleDecision] = {}


def _cache_dir() -> Path:
    """Where fitted decisions are kept between runs: $CHONNGHE_CACHE_DIR, else the user's cache folder."""
    base = os.environ.get("CHONNGHE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "chonnghe")
    return Path(base) / "engine"


@lru_cache(maxsize=1)
def _code_version() -> str:
    """A digest of the engine's code and language data: a fitted decision is only reused by the same."""
    digest = hashlib.sha256()
    for path in (Path(__file__), Path(__file__).with_name("ranker.py"), LANGUAGE_FILE, ABBREVIATIONS_FILE):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _content_key(entries: list, extra: str) -> str:
    """A digest of the entries (what the engine reads of them), the engine's code and `extra`."""
    digest = hashlib.sha256((_code_version() + extra).encode())
    for e in entries:
        digest.update(json.dumps([e.id, e.kind, e.title, list(e.questions), list(getattr(e, "tags", ())),
                                  e.answer], ensure_ascii=False).encode())
    return digest.hexdigest()[:32]


_RANKER_CACHE: dict[str, Ranker] = {}


def _cached_ranker(entries: list, labelled: list[tuple[int, Counter]], weights: list[float],
                   disk: bool) -> Ranker:
    """The ranker of `entries`: from memory, from the disk cache (`disk`), or trained (and kept)."""
    key = _content_key(entries, "ranker")
    if key in _RANKER_CACHE:
        return _RANKER_CACHE[key]
    path = _cache_dir() / f"{key}.ranker.npz"
    ranker = None
    if disk:
        try:
            with np.load(path, allow_pickle=False) as data:
                ranker = Ranker.from_arrays(dict(data))
        except (OSError, ValueError, KeyError):
            ranker = None
    if ranker is None:
        ranker = Ranker(labelled, len(entries), weights)
        if disk:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{key}.{os.getpid()}.tmp.npz")
                np.savez(tmp, **ranker.to_arrays())
                os.replace(tmp, path)
            except OSError as exc:  # a read-only home: train again next time
                log.debug("ranker not cached: %s", exc)
    _RANKER_CACHE[key] = ranker
    return ranker


def _load_decision(key: str) -> FittedDecision | None:
    try:
        data = json.loads((_cache_dir() / f"{key}.json").read_text(encoding="utf-8"))
        return FittedDecision(np.array(data["weights"]), np.array(data["mean"]), np.array(data["scale"]),
                              float(data["threshold"]), float(data["floor"]), bool(data.get("grouped")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_decision(key: str, d: FittedDecision) -> None:
    try:
        folder = _cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"weights": d.weights.tolist(), "mean": d.mean.tolist(),
                                   "scale": d.scale.tolist(), "threshold": d.threshold, "floor": d.floor,
                                   "grouped": d.grouped}),
                       encoding="utf-8")
        os.replace(tmp, folder / f"{key}.json")
    except OSError as exc:  # a read-only home: fit again next time
        log.debug("fitted decision not cached: %s", exc)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The integers of the ranges [starts[k], ends[k]) one after the other, and where each range begins
    in them (no range is empty)."""
    sizes = ends - starts
    offsets = np.cumsum(sizes) - sizes
    return np.arange(int(sizes.sum())) + np.repeat(starts - offsets, sizes), offsets


class AnswerEngine:
    """BM25 over folded syllables and syllable pairs, one document per title or example question, and
    a supervised ranker (`bot.engine.ranker`) trained on the entries' texts.

    Ranking: the best question of each entry (BM25), blended with how much of the query the entry
    covers. Confidence: the idf-weighted share of the query's words (and word pairs) the entry knows;
    unknown words weigh as much as the rarest known word, so off-topic questions score low.
    Deciding: a choice model fitted on the base by cross-validation (`fit_decision`); bases too small
    to fit on answer when confidence >= CONF and the winner leads the runner-up by MARGIN (or is very
    sure).
    """

    K1, B = 1.2, 0.75
    UNI = 0.7  # weight of single words vs word pairs in the confidence
    CONF = 0.51  # confidence needed to answer
    SURE = 0.75  # confidence that answers even when the runner-up is close
    MARGIN = 0.05  # relative lead over the runner-up otherwise
    CANDIDATES = 10
    INDEX_ANSWERS = True  # an FAQ entry's answer is indexed like a trade page (weak evidence)
    PAGE_COVER = 0.25  # coverage credit of a word only the trade page has (weaker evidence than a question)
    PAGE_WEIGHT = 0.5  # BM25 weight of a trade page's text relative to an example question
    RANK_COVERAGE = 0.7  # share of coverage (vs relative BM25) in the final ranking
    TRADE_BONUS = 0.1  # ranking bonus of a trade the question names ("nghề hàn", "cơ khí")
    TITLE_WEIGHT = 0.1  # ranking bonus, times the share of the question's words found in the title
    EXTRA_WEIGHT = 0.3  # ranking malus, times the share of the closest example's words the question lacks
    UNNAMED_MALUS = 0.05  # ranking malus of every trade when the question names none
    NUMBER_WEIGHT = 1.0  # coverage weight of a number no entry knows ("30 tuổi"): not an off-topic word

    # Fitting the decision: folds of example questions (and held-out entries, as out-of-scope questions).
    FIT_FOLDS = 5
    FIT_MIN_ENTRIES = 20  # below this the hand-set rule decides (too few questions to fit on)
    FIT_MAX_ENTRIES = 400  # above this the decision is fitted on a fixed sample of entries
    WRONG_COST = 5.0  # a wrong answer costs as much as this many declined questions that had an answer
    DISK_CACHE = True  # keep fitted decisions between runs (see _cache_dir)
    FLOOR_COST = 2.0  # the cost of a wrong answer the floor (what the coverage rule answers) is set at
    OUT_OF_SCOPE_SHARE = 0.2  # the share of questions the base has no entry for, assumed when fitting
    GROUPED = True  # the decision is one choice among the candidates or none (else one logistic per row)
    RANKER_MAX_ENTRIES = 150  # above this no supervised ranker is trained (its fit grows with entries³)
    RANKER_CANDIDATES = 3  # the ranker's best entries join the candidates
    # An entry's answer weighs as this many example questions in the ranker's training: it is the
    # fullest statement of the topic's vocabulary (cross-validated, mean of five fold assignments,
    # 1 -> 3: first candidate right 0.830 -> 0.840, 0.753 -> 0.759 with 5 examples per entry).
    ANSWER_LEARN_WEIGHT = 3.0
    # A question this close (weighted Dice) to a question on another subject, and closer to it than to any
    # example of its best entry, is declined whatever the fitted decision says: staff listed it as not
    # ours. (Lower, 0.7 or no minimum, it declined in-scope questions: cross-validated 0.663 -> 0.642.)
    OTHER_MIN = 0.85

    def __init__(self, entries: list, fit: bool = True, ranker: bool | None = None,
                 others: Iterable[str] = ()) -> None:
        entries = sorted(entries, key=lambda e: e.id)  # deterministic whatever the input order
        self.others = tuple(others)  # questions on other subjects, which no entry answers
        if ranker is None:
            ranker = len(entries) <= self.RANKER_MAX_ENTRIES
        self.decision: FittedDecision | RuleDecision = RuleDecision()
        self.ids = [e.id for e in entries]
        doc_terms: list[Counter] = []
        doc_boost: list[float] = []
        starts: list[int] = []
        self.entry_terms: list[set[str]] = []
        df: Counter = Counter()
        self.title_terms: list[frozenset[str]] = []
        self.forms: list[dict[str, set[str]]] = []  # per entry: folded word -> the ways it is written
        doc_words: list[frozenset[str]] = []  # per document: its words that are not filler
        self.page_only: list[frozenset[str]] = []  # per entry: words only its trade page has
        self.exact: dict[str, int] = {}  # an example question or title, as words -> its entry
        entry_docs: list[Counter] = []  # per entry: its title, questions and tags as one document
        labelled: list[tuple[int, Counter]] = []  # every text with its entry: the ranker's training set
        learn_weights: list[float] = []  # and its weight in that training
        for index, entry in enumerate(entries):
            starts.append(len(doc_terms))
            known: set[str] = set()
            whole: Counter = Counter()
            entry_docs.append(whole)
            self.title_terms.append(frozenset(t for t in tokens(entry.title) if not filler(t)))
            forms: dict[str, set[str]] = defaultdict(set)
            self.forms.append(forms)
            texts = (entry.title, *entry.questions, *getattr(entry, "tags", ()))
            for text in (*texts, entry.answer) if entry.kind == "trade" else texts:
                for plain in normalize(text).split():  # as written: accented, or plain (any accent)
                    forms[fold(plain)].add(plain)
            for text in texts:
                toks = tokens(text)
                self.exact.setdefault(" ".join(toks), index)
                doc_words.append(frozenset(t for t in toks if not filler(t)))
                terms = Counter(self.features(toks))
                doc_terms.append(terms)
                doc_boost.append(1.0)
                labelled.append((index, terms))
                learn_weights.append(1.0)
                known.update(terms)
                whole.update(terms)
            if entry.kind == "trade" or self.INDEX_ANSWERS:
                # A trade's page lists what one learns and where one works: specific words people
                # use ("cắt may quần áo", "máy CNC") that its example questions may not contain.
                terms = Counter(self.features(tokens(entry.answer)))
                doc_words.append(frozenset())  # a page is long: what it does not say is no evidence
                doc_terms.append(terms)
                doc_boost.append(self.PAGE_WEIGHT)
                labelled.append((index, terms))
                learn_weights.append(self.ANSWER_LEARN_WEIGHT)
                self.page_only.append(frozenset(t for t in terms if t not in known))
                known.update(terms)
            else:
                self.page_only.append(frozenset())
            # Document frequency counts entries, not questions: a word every question of one entry
            # repeats ("hàn") is that entry's signature and must stay rare, not become common.
            df.update(known)
            self.entry_terms.append(known)
        # Per folded word, every way the base writes it: a word typed with diacritics can only be
        # another word than an entry's where the base also writes it otherwise (see `rank`).
        spellings: dict[str, set[str]] = defaultdict(set)
        for forms in self.forms:
            for folded, written in forms.items():
                spellings[folded] |= written
        self.spellings = {folded: frozenset(written) for folded, written in spellings.items()}
        n = max(len(entries), 1)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        # Questions on other subjects, one row each (their words as 0/1 columns) with the weight those
        # words have in coverage: a question's closeness to all of them is one product (`rank`).
        other_words = sorted({frozenset(t for t in tokens(q) if not filler(t)) for q in self.others}
                             - {frozenset()}, key=sorted)
        self.other_cols = {t: c for c, t in enumerate(sorted(set().union(*other_words)))}
        self.other_matrix = np.zeros((len(other_words), len(self.other_cols)))
        for row, words in enumerate(other_words):
            self.other_matrix[row, [self.other_cols[t] for t in words]] = 1.0
        self.other_weight = np.array([sum(map(self.weight, words)) for words in other_words])
        avg = sum(sum(c.values()) for c in doc_terms) / max(len(doc_terms), 1)
        postings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for i, terms in enumerate(doc_terms):
            length = sum(terms.values())
            norm = self.K1 * (1 - self.B + self.B * length / avg)
            for t, f in terms.items():
                docs, weights = postings[t]
                docs.append(i)
                weights.append(doc_boost[i] * self.idf[t] * f * (self.K1 + 1) / (f + norm))
        self.postings = {t: (np.array(d, dtype=np.int32), np.array(w, dtype=np.float32))
                         for t, (d, w) in postings.items()}
        self.n_docs = len(doc_terms)
        # BM25 over whole entries: for a phrasing no single example has, the words spread over an
        # entry's examples are the evidence.
        avg_e = sum(sum(c.values()) for c in entry_docs) / max(len(entry_docs), 1)
        epostings: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for i, terms in enumerate(entry_docs):
            length = sum(terms.values())
            norm = self.K1 * (1 - self.B + self.B * length / max(avg_e, 1e-9))
            for t, f in terms.items():
                docs, weights = epostings[t]
                docs.append(i)
                weights.append(self.idf[t] * f * (self.K1 + 1) / (f + norm))
        self.epostings = {t: (np.array(d, dtype=np.int32), np.array(w, dtype=np.float32))
                          for t, (d, w) in epostings.items()}
        self.starts = np.array(starts, dtype=np.int64)
        self.vocab = sorted(t for t in df if " " not in t)
        self.vocab_set = frozenset(self.vocab)
        # Per document, the total weight of its words (the "narrower entry" rule subtracts what a
        # question shares with it), and its words as numbers, one row per document (padded with
        # the number after the last word's): what a question shares with the candidates' examples
        # is then read with a few array operations (see `_examples_overlap`).
        self.doc_weight = np.array([sum(self.weight(t) for t in words) for words in doc_words])
        self.has_words = np.array([bool(words) for words in doc_words], dtype=bool)
        self.ends = np.append(self.starts[1:], self.n_docs).astype(np.int64)
        self.word_ids = {t: j for j, t in enumerate(sorted(set().union(*doc_words)))}
        self.doc_word_ids = np.full((len(doc_words), max(map(len, doc_words), default=0)), len(self.word_ids),
                                    dtype=np.int32)
        for d, words in enumerate(doc_words):
            self.doc_word_ids[d, :len(words)] = sorted(self.word_ids[t] for t in words)
        # Names of trades: the id ("nghe.co_khi" -> "co khi"), the title without "Nghề", what its
        # brackets add ("Cắt gọt kim loại (cơ khí)") and the tags no other trade has ("may_mac").
        trades = [(i, e) for i, e in enumerate(entries) if e.kind == "trade"]
        tag_owners = Counter(tag for _, e in trades for tag in set(getattr(e, "tags", ())))
        names_seen: set[tuple[tuple[str, ...], int]] = set()
        for i, entry in trades:
            title = re.sub(r"^\s*nghề\s+", "", entry.title, flags=re.IGNORECASE)
            names = {entry.id.split(".", 1)[-1], re.sub(r"\(.*?\)", " ", title)}
            names.update(part for group in re.findall(r"\((.*?)\)", title) for part in group.split(","))
            names.update(tag for tag in getattr(entry, "tags", ()) if tag_owners[tag] == 1)
            for name in names:
                toks = tuple(tokens(name.replace("_", " ")))
                if toks:
                    names_seen.add((toks, i))
        self.trade_names = sorted(names_seen)
        self.names_by_first: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        for name, i in self.trade_names:
            self.names_by_first[name[0]].append((name, i))
        self.trade_set = frozenset(i for _, i in self.trade_names)
        # Pairs of filler words that are names ("cơ khí" folds to "co khi": "có" + "khi"): kept as content.
        self.compounds = frozenset(
            f"{a} {b}" for toks, _ in self.trade_names for a, b in itertools.pairwise(toks)
            if a in STOP and b in STOP)  # folded forms: however the name was typed
        self.ranker: Ranker | None = None
        if ranker and len(entries) > 1:
            # The top-level engine's ranker is cached like its decision; the fitting folds' are not.
            self.ranker = _cached_ranker(entries, labelled, learn_weights, self.DISK_CACHE) if fit \
                else Ranker(labelled, len(entries), learn_weights)
        if fit:
            self.decision = self.fit_decision(entries, ranker=self.ranker is not None, others=self.others)

    def weight(self, term: str) -> float:
        """A query word's weight in coverage: its idf (unknown words weigh most), generic words less."""
        w = self.idf.get(term, self.NUMBER_WEIGHT if term.isdigit() else self.max_idf)
        return w * GENERIC_WEIGHT if term in GENERIC else w

    @classmethod
    def build(cls, entries: Iterable, fit: bool = True, others: Iterable[str] = ()) -> AnswerEngine:
        """Index entries (anything with id, title, questions and optionally tags); with `fit`, the
        decision is fitted on them by cross-validation (cached per content)."""
        return cls(list(entries), fit=fit, others=others)

    @classmethod
    def for_content(cls, base, entries: Iterable | None = None) -> AnswerEngine:
        """The engine of a content base (its entries, or `entries` of it, and its questions on other
        subjects): what the bot, the CLI and the benchmarks answer with."""
        return cls.build(base.entries.values() if entries is None else entries, others=base.others)

    @classmethod
    def fit_decision(cls, entries: list, ranker: bool = True,
                     others: tuple[str, ...] = ()) -> FittedDecision | RuleDecision:
        """The decision fitted on `entries`: for each fold, an engine built without that fold's example
        questions and without one entry in ten (`ranker`: with its own supervised ranker) is asked
        them; each question chooses one of its candidates or none (a conditional logit over their
        signals, `GROUPED`; else one logistic per candidate row), and the thresholds on the best
        candidate's probability are where answering pays at WRONG_COST and FLOOR_COST."""
        usable = [e for e in entries if len(e.questions) >= 2]
        if len(usable) < cls.FIT_MIN_ENTRIES:
            return RuleDecision()
        key = _content_key(entries, json.dumps([ranker, others], ensure_ascii=False))
        if key in _FIT_CACHE:
            return _FIT_CACHE[key]
        cached = _load_decision(key) if cls.DISK_CACHE else None
        if cached is not None:
            _FIT_CACHE[key] = cached
            return cached
        sample = entries
        if len(entries) > cls.FIT_MAX_ENTRIES:
            step = len(entries) / cls.FIT_MAX_ENTRIES
            sample = [entries[int(i * step)] for i in range(cls.FIT_MAX_ENTRIES)]
        k = cls.FIT_FOLDS
        rows, labels, asked = [], [], []  # asked: (question number, candidate rows range, expected row)
        for fold in range(k):
            train, questions = [], []
            for index, e in enumerate(sample):
                qs = tuple(e.questions)
                held = [q for n, q in enumerate(qs) if n % k == fold]
                if index % (2 * k) == fold:  # the whole entry is left out: its questions are out of scope
                    questions += [(None, q) for q in qs]
                    continue
                kept = tuple(q for n, q in enumerate(qs) if n % k != fold)
                if not kept:
                    held, kept = [], qs
                train.append(dataclasses.replace(e, questions=kept))
                questions += [(e.id, q) for q in held]
            questions += [(None, q) for n, q in enumerate(others) if n % k == fold]
            engine = cls(train, fit=False, ranker=ranker,
                         others=[q for n, q in enumerate(others) if n % k != fold])
            for expected, q in questions:
                r = engine.rank(q)
                if r.kind != "ranked" or r.generic_only:
                    continue
                x = r.features
                y = [res[0] == expected for res in r.results]
                asked.append((len(rows), len(rows) + len(x), r, expected is None))
                rows += list(x)
                labels += y
        if not rows or not any(labels) or all(labels):
            return RuleDecision()
        x, y = np.array(rows), np.array(labels, dtype=np.float64)
        # Out-of-scope questions (of the left-out entries) count as OUT_OF_SCOPE_SHARE of all asked.
        n_out = sum(1 for a in asked if a[3])
        n_in = len(asked) - n_out
        out_weight = (cls.OUT_OF_SCOPE_SHARE / (1 - cls.OUT_OF_SCOPE_SHARE)) * n_in / n_out if n_out else 0.0
        if cls.GROUPED:
            starts = np.array([a[0] for a in asked])
            label = np.array([a[0] + int(np.argmax(y[a[0]:a[1]])) if y[a[0]:a[1]].any() else -1
                              for a in asked])
            qw = np.array([out_weight if a[3] else 1.0 for a in asked])
            w, mean, scale = fit_choice(x, starts, label, qw)
            sc = (x - mean) / scale @ w[1:] + w[0]
            p = np.concatenate([scores_to_probabilities(sc[a[0]:a[1]], True) for a in asked])
        else:
            w, mean, scale = fit_logistic(x, y)
            z = (x - mean) / scale
            p = 1.0 / (1.0 + np.exp(-(z @ w[1:] + w[0])))
        best = []  # (probability of the best candidate, right?, weight, would the coverage rule answer it?)
        for start, end, ranking, out in asked:
            n = start + int(np.argmax(p[start:end]))
            rule = RuleDecision().decide_for(ranking, n - start) == "answered" and (
                n == start or not FittedDecision.FLOOR_FIRST_ONLY)
            best.append((float(p[n]), bool(y[n]), out_weight if out else 1.0, rule))

        def threshold_for(subset: list[tuple[float, bool, float, bool]], cost: float) -> float:
            """The probability above which answering pays at `cost`: the best candidate's probability is
            recalibrated on `subset` (a one-variable logistic on its logit, smooth where a search for
            the best cut is not), and answering pays when the recalibrated one reaches cost/(1+cost)."""
            if len(subset) < 10 or all(b[1] for b in subset) or not any(b[1] for b in subset):
                return 1.0
            probs = np.clip(np.array([b[0] for b in subset]), 1e-6, 1 - 1e-6)
            logit = np.log(probs / (1 - probs))[:, None]
            cw, cmean, cscale = fit_logistic(logit, np.array([b[1] for b in subset], dtype=np.float64),
                                             weights=np.array([b[2] for b in subset]))
            slope = cw[1] / cscale[0]
            if slope <= 0:
                return 1.0
            target = math.log(cost)  # logit of cost/(1+cost)
            at = cmean[0] + (target - cw[0]) * cscale[0] / cw[1]  # the logit of p where it is reached
            return float(min(1.0, max(0.0, 1 / (1 + math.exp(-at)))))

        # The floor applies to what the coverage rule answers: recalibrated on those questions alone.
        decision = FittedDecision(w, mean, scale, threshold_for(best, cls.WRONG_COST),
                                  threshold_for([b for b in best if b[3]], cls.FLOOR_COST), cls.GROUPED)
        _FIT_CACHE[key] = decision
        if cls.DISK_CACHE:
            _save_decision(key, decision)
        return decision

    @staticmethod
    def features(toks: list[str]) -> list[str]:
        """The terms a question is indexed by: its content words (or all, if only filler) and word pairs."""
        content = [t for t in toks if not filler(t)] or toks
        return content + [f"{a} {b}" for a, b in itertools.pairwise(toks)]

    def correct(self, toks: list[str], keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """Replace unknown words of 4+ letters by the closest known word (typos), if close enough.
        Words in `keep` (typed with diacritics: an input method spelled them) stay. Between equally
        close words, the one that makes a known pair with a neighbour wins ("tuyen sing" -> "sinh",
        not "sang"), then the most common one."""
        out = list(toks)
        for j, t in enumerate(toks):
            if t in self.vocab_set or filler(t) or len(t) < 4 or t.isdigit() or t in keep:
                continue
            found = process.extract(t, self.vocab, scorer=Levenshtein.normalized_similarity,
                                    score_cutoff=0.75, limit=8)
            if not found:
                continue
            top = found[0][1]
            prev = out[j - 1] if j else None
            nxt = toks[j + 1] if j + 1 < len(toks) else None

            out[j] = min((c for c, score, _ in found if score >= top - 1e-9),
                         key=lambda c, prev=prev, nxt=nxt: (
                             f"{prev} {c}" not in self.idf and f"{c} {nxt}" not in self.idf,
                             self.idf.get(c, self.max_idf), c))
        return out

    CUES = frozenset({"nghe", "hoc", "tho", "nganh", "lam"})

    def named_trades(self, toks: list[str]) -> set[int]:
        """Indexes of the trades the question names. A one-word name counts only between a word that
        announces a trade and the end or a filler word: "học may" or "nghề hàn có khó không" name a
        trade, "ngắn hạn" and "học máy lạnh" do not name sewing or welding."""
        found: set[int] = set()
        for j, first in enumerate(toks):
            for name, i in self.names_by_first.get(first, ()):
                n = len(name)
                if tuple(toks[j:j + n]) != name:
                    continue
                if n == 1:
                    after = toks[j + 1] if j + 1 < len(toks) else None
                    if j == 0 or toks[j - 1] not in self.CUES or not (
                            after is None or filler(after) or after in GENERIC):
                        continue
                found.add(i)
        return found

    def rank(self, text: str) -> Ranking:
        """Candidates for `text`, best first, and the signals the decision reads (no decision taken)."""
        text = text or ""
        norm = normalize(text)
        toks = list(_tokens(norm))
        if not toks:
            return Ranking("empty", norm)
        folded = " ".join(toks)
        if GREET.match(folded):
            return Ranking("greeting", norm)
        if THANKS.match(folded):
            return Ranking("thanks", norm)
        typed = _word_forms(norm)  # the words typed with diacritics: (folded, as written)
        toks = self.correct(toks, {f for f, _ in typed})
        features = self.features(toks)
        feature_set = set(features)
        found = [self.postings[t] for t in feature_set if t in self.postings]
        if not found or not self.ids:
            return Ranking("none", norm)
        docs = np.concatenate([d for d, _ in found])
        weights = np.concatenate([w for _, w in found])
        scores = np.bincount(docs, weights=weights, minlength=self.n_docs)
        best = np.maximum.reduceat(scores, self.starts)
        efound = [self.epostings[t] for t in feature_set if t in self.epostings]
        escores = np.bincount(np.concatenate([d for d, _ in efound]),
                              weights=np.concatenate([w for _, w in efound]), minlength=len(self.ids)) \
            if efound else np.zeros(len(self.ids))
        k = min(self.CANDIDATES, len(best))
        top = (set(np.argpartition(-best, k - 1)[:k].tolist())
               | set(np.argpartition(-escores, min(5, k) - 1)[:min(5, k)].tolist()))
        learnt = set()
        plr = None
        if self.ranker is not None:
            plr = self.ranker.probabilities(features)
            kl = min(self.RANKER_CANDIDATES, len(plr))
            learnt = set(np.argpartition(-plr, kl - 1)[:kl].tolist())
            top |= learnt
            # The ranker's two best probabilities: each candidate's lead is over the best other one.
            p_second, p_first = np.partition(plr, len(plr) - 2)[-2:].tolist() if len(plr) > 1 \
                else (0.0, float(plr[0]))
        # The candidates' figures as Python floats, read once (numpy scalars are slow one by one).
        top_best = dict(zip(top, best[list(top)].tolist(), strict=True))
        ranked = sorted((i for i in top if top_best[i] > 0 or i in learnt), key=lambda i: (-top_best[i], i))
        s_max = top_best[ranked[0]]
        e_max = float(escores.max()) or 1.0
        erel = (escores[ranked] / e_max).tolist()
        learnt_p = plr[ranked].tolist() if plr is not None else [0.0] * len(ranked)

        content = [t for t in toks if not filler(t)]
        content += [p for p in map(" ".join, itertools.pairwise(toks)) if p in self.compounds]
        content = content or toks
        qw = {t: self.weight(t) for t in content}
        total = sum(qw[t] for t in content)
        weighted = [(t, qw[t]) for t in content]
        named = self.named_trades(toks)
        pairs = [f"{a} {b}" for a, b in itertools.pairwise(toks) if not (filler(a) and filler(b))]
        pair_total = sum(self.idf.get(t, self.max_idf * 0.5) for t in pairs)
        known_pairs = [(t, self.idf[t]) for t in pairs if t in self.idf]  # only these can an entry know
        qset = set(content)
        # Words typed with diacritics that fold onto another word ("lái" and "lại", "bằng" and
        # "băng"): an entry knows them only if it writes them that way, or without diacritics. Only
        # words the base also writes some other way can be another word in some entry.
        accented = {f: w for f, w in typed if f in qset}
        accented = {f: w for f, w in accented.items() if not self.spellings.get(f, frozenset()) <= {w, f}}
        extras, closes = self._examples_overlap(ranked, scores, qw, total)
        results = []
        for n, i in enumerate(ranked):
            known = self.entry_terms[i]
            if accented:
                forms = self.forms[i]
                other = {f for f, w in accented.items()
                         if f in forms and w not in forms[f] and f not in forms[f]}
                if other:
                    known = known - other
            # The share of the question's weight in words the entry knows (those only its trade page
            # has count less) and in words of its title. The title says what the entry is about: of
            # entries that know the words equally well ("miễn học phí" is in the fee-waiver,
            # disability and veterans entries), the one whose title has them is the question's topic.
            page_only, title_terms = self.page_only[i], self.title_terms[i]
            cov = title = 0.0
            for t, w in weighted:
                if t in known:
                    cov += w * (self.PAGE_COVER if t in page_only else 1.0)
                if t in title_terms:
                    title += w
            cov /= total
            title /= total
            if pair_total:
                pair_cov = sum(w for t, w in known_pairs if t in known) / pair_total
                cov = self.UNI * cov + (1 - self.UNI) * pair_cov
            rel = top_best[i] / s_max
            bonus = self.TITLE_WEIGHT * title
            # The entry's example that says least beyond the question: when even that one adds
            # words ("con gái học nghề gì dễ xin việc" for "học nghề gì dễ xin việc"), the entry
            # is about something narrower than what was asked. Also how close the question is to
            # its closest example.
            extra, close = extras[n], closes[n]
            is_named = i in named
            if not is_named:  # a named trade's page answers whatever is asked about it
                bonus -= self.EXTRA_WEIGHT * extra / (extra + total)
            is_trade = i in self.trade_set
            if is_trade:
                if named and not is_named:
                    continue  # a question that names a trade is about that trade, never another one
                # One that names none is more often a general question ("ra trường có dễ xin việc không").
                bonus += self.TRADE_BONUS if named else -self.UNNAMED_MALUS
            p = learnt_p[n]
            lead = (p - (p_second if p >= p_first else p_first)) if plr is not None else 0.0
            results.append((self.RANK_COVERAGE * cov + (1 - self.RANK_COVERAGE) * rel + bonus, cov, i,
                            rel, erel[n], title, extra / (extra + total), float(is_named), float(is_trade),
                            close, p, lead, math.log(max(p, 1e-4))))
        if not results:
            return Ranking("none", norm)
        results.sort(key=lambda r: (-r[0], r[2]))
        unknown = sum(qw[t] for t in content if t not in self.idf and not t.isdigit()) / total
        generic_only = not any(t not in GENERIC for t in content)
        exact = self.exact.get(" ".join(toks)) if generic_only else None
        other = 0.0
        if len(self.other_weight):
            query = np.zeros(len(self.other_cols))
            for t, w in qw.items():
                if t in self.other_cols:
                    query[self.other_cols[t]] = w
            other = float((2 * (self.other_matrix @ query) / (self.other_weight + total)).max())
        return Ranking("ranked", norm, tuple((self.ids[i], r, c, *more) for r, c, i, *more in results),
                       unknown, generic_only, self.ids[exact] if exact is not None else None, other)

    def _examples_overlap(self, ranked: list[int], scores: np.ndarray, qw: dict[str, float],
                          total: float) -> tuple[list[float], list[float]]:
        """For each candidate, over its examples the question touches (with words, BM25 score above
        0): the least weight of an example's words the question lacks (0 if none), and how close the
        question is to the closest one (weighted Dice, 2 * shared / (its weight + the question's))."""
        docs, offsets = _ranges(self.starts[ranked], self.ends[ranked])
        query = np.zeros(len(self.word_ids) + 1)  # the question's weight of each word (0: padding)
        for t in qw:
            if t in self.word_ids:
                query[self.word_ids[t]] = qw[t]
        shared = query[self.doc_word_ids[docs]].sum(axis=1)
        weight = self.doc_weight[docs]
        touched = (scores[docs] > 0) & self.has_words[docs]
        extra = np.minimum.reduceat(np.where(touched, weight - shared, np.inf), offsets)
        extra[extra == np.inf] = 0.0
        close = np.maximum.reduceat(np.where(touched, 2 * shared / (weight + total), 0.0), offsets)
        return extra.tolist(), close.tolist()

    def _a_part_answers(self, text: str, best: str, score: float) -> bool:
        """Whether a declined message of several sentences or clauses ("em 15 tuổi, nhà ở Cẩm Giàng,
        thi vào 10 bị trượt thì học gì") has a part that, asked on its own, is answered with `best`, the
        entry the whole message finds most probable, while the whole reaches the fitted floor: the
        context a person gives about themself pulls the whole message's coverage down."""
        if not self.decision.fitted or score < self.decision.floor:
            return False  # the hand-set rule of a small base, or too weak as a whole
        parts = [p for p in _CLAUSE_BREAK.split(unicodedata.normalize("NFC", text[:MAX_CHARS]))
                 if sum(not filler(t) for t in tokens(p)) >= 2]
        # A part has no clause break, so asking it goes no deeper.
        return len(parts) >= 2 and any(self.answer(p).id == best for p in parts[:MAX_PARTS])

    def answer(self, text: str) -> Match:
        """The best entry for `text`, or kind "none" with suggestions when not confident."""
        r = self.rank(text)
        if r.kind != "ranked":
            return Match(r.kind, None, 1.0 if r.kind in ("greeting", "thanks") else 0.0, r.normalized, (),
                         r.kind if r.kind != "none" else "declined: no known word")
        p = self.decision.probabilities(r)
        probs = p.tolist()  # Python floats: numpy scalars are slow to read one by one
        order = list(range(len(r.results))) if self.decision.by_rank else \
            sorted(range(len(r.results)), key=lambda n: (-probs[n], n))
        candidates = tuple((r.results[n][0], round(probs[n], 4), round(min(1.0, r.results[n][2]), 4))
                           for n in order[:3])
        suggestions = tuple((ident, round(min(1.0, cov), 3)) for ident, _, cov in candidates)
        if r.generic_only:
            # Only words every topic shares ("học nghề ở đâu", "học trường nào"): every entry knows
            # them, so coverage says nothing. Answer only a question an entry lists word for word.
            if r.exact is None:
                return Match("none", None, candidates[0][2], r.normalized, suggestions,
                             "declined: only words every topic shares", candidates)
            return Match("answer", r.exact, 1.0, r.normalized,
                         tuple(x for x in suggestions if x[0] != r.exact),
                         "answered: the question an entry lists word for word", candidates)
        best = candidates[0]
        score = round(float(best[1]), 4)
        if r.other >= self.OTHER_MIN and r.other >= r.results[order[0]][9]:  # [9]: its closest example
            return Match("none", None, score, r.normalized, suggestions,
                         "declined: a question on another subject", candidates)
        verdict = self.decision.decide(r, p, order)
        if verdict == "answered":
            return Match("answer", best[0], score, r.normalized, suggestions[1:], verdict, candidates)
        if self._a_part_answers(text, best[0], score):
            return Match("answer", best[0], score, r.normalized, suggestions[1:],
                         "answered: one part of the message", candidates)
        return Match("none", None, score, r.normalized, suggestions, verdict, candidates)
