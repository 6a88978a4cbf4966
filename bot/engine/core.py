"""The answer engine: Vietnamese normalisation, BM25 over folded syllables and syllable pairs, and a
coverage-based confidence that decides between answering and "no confident answer".

See docs/engine.md for the design and the measured figures."""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

MAX_CHARS = 600

ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.yaml")


@lru_cache(maxsize=1)
def abbreviations() -> dict[str, tuple[str, ...]]:
    """The abbreviation dictionary (data file), folded keys to folded word tuples."""
    data = yaml.safe_load(ABBREVIATIONS_FILE.read_text(encoding="utf-8"))["expand"]
    return {str(k): tuple(str(v).split()) for k, v in data.items()}


# Polite filler and function words (folded): they carry no topic, so they neither match nor count
# against coverage. Meaningful pairs survive as bigrams ("con gai", "tu van").
STOP = frozenset("""
a ad admin ah ak anh ban bot cam chau chi cho co con cua da day de do duoc em giup gi ha hay hoi khong
khi la lam luon ma minh moi muon nao nay nen neu nha nhe nhi nho oi on roi sao the thi thay toi tu u
ve voi vui long xin cac nhung mot duoc biet can khoang chao huynh
""".split())

# Words every topic shares ("học nghề ở trường nào, ra làm gì, mấy năm"): they count, but little,
# so the topic words of a question decide.
GENERIC = frozenset("hoc nghe truong o dau ra nam bao lau nhieu tien kho de nganh haiphong haiduong".split())
GENERIC_WEIGHT = 0.3

GREET = re.compile(r"^(xin chao|chao|hi|hello|helo|alo|hey|chao ban|chao bot|chao ad|chao admin|xin chao bot)"
                   r"( (ban|bot|ad|admin|em|anh|chi|a|nhe|nha|moi nguoi))*$")
THANKS = re.compile(r"^(ok |oke |vang |da )?(cam on|camon|thanks|thank you|thank|tks|thks|ty|cam on nhieu)"
                    r"( (ban|bot|ad|admin|nhe|nha|nhieu|a|em|anh|chi|lam))*$")

OLD_TONE = {  # new-style placement -> old-style (hòa), only at syllable end
    "oà": "òa", "oá": "óa", "oả": "ỏa", "oã": "õa", "oạ": "ọa",
    "oè": "òe", "oé": "óe", "oẻ": "ỏe", "oẽ": "õe", "oẹ": "ọe",
    "uỳ": "ùy", "uý": "úy", "uỷ": "ủy", "uỹ": "ũy", "uỵ": "ụy",
}
_TONE_RE = re.compile("(" + "|".join(OLD_TONE) + r")(?![a-zàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ])")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text[: MAX_CHARS * 4]).lower()
    text = _TONE_RE.sub(lambda m: OLD_TONE[m.group(1)], text)
    text = "".join(ch if (ch.isalnum() or ch.isspace()) else " " for ch in text)
    text = re.sub(r"(.)\1{2,}", r"\1", text)
    return " ".join(text.split())[:MAX_CHARS]


def fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


# Multi-word forms rewritten before matching (folded words): "bằng cấp 3" is the upper secondary diploma.
PHRASES = (
    (("cap", "3"), ("thpt",)),
    (("cap", "2"), ("thcs",)),
    (("cap", "ba"), ("thpt",)),
    (("cap", "hai"), ("thcs",)),
    # The city the whole bot is about: a place name, not a topic (see GENERIC).
    (("hai", "phong"), ("haiphong",)),
    (("hai", "duong"), ("haiduong",)),
)

# Words that fold onto content words, decided by their diacritics when the person typed them:
# "vậy" (a particle) would read as "vay" (a loan), "mấy" (how many) as "may" (sewing).
ACCENTED = {"vậy": (), "mấy": ("bao", "nhieu")}
# Unaccented, "vay" at the very end of a question is the particle too ("hoc phi bn vay").
FINAL_PARTICLES = frozenset({"vay"})


def tokens(text: str) -> list[str]:
    """Folded words with abbreviations expanded and repeated letters collapsed."""
    words = normalize(text).split()
    abbr = abbreviations()
    raw: list[str] = []
    for j, word in enumerate(words):
        if word in ACCENTED:
            raw += ACCENTED[word]
            continue
        for tok in re.findall(r"[a-z0-9]+", fold(word)):
            if tok not in abbr:  # "cntt" is an abbreviation; otherwise no syllable ends in a doubled letter
                tok = re.sub(r"([a-z])\1+$", r"\1", tok)
            if tok in FINAL_PARTICLES and j == len(words) - 1:
                continue
            raw.append(tok)
    out: list[str] = []
    for i, tok in enumerate(raw):
        m = re.fullmatch(r"(\d+)k", tok)
        if m:
            out += [m.group(1), "nghin"]
            continue
        if tok in ("dk", "đk"):
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            out += ["dang", "ky"] if nxt in {"nhan", "hoc", "xet", "tuyen", "online", "tu", "thi", "vao", "ho"} \
                else (["duoc"] if nxt in {"khong", "ko", "k", "kh", "hok", ""} else ["dieu", "kien"])
            continue
        out += abbr.get(tok, (tok,))
    return _phrases(out)


def _phrases(toks: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(toks):
        for pattern, replacement in PHRASES:
            if tuple(toks[i:i + len(pattern)]) == pattern:
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
    abbr = abbreviations()
    out = []
    for word in normalize(text).split():
        folded = fold(word)
        if folded != word and folded.isalpha() and folded not in abbr and word not in ACCENTED:
            out.append((folded, word))
    return out


@dataclass(frozen=True)
class Match:
    kind: str
    id: str | None
    score: float
    normalized: str
    suggestions: tuple[tuple[str, float], ...]


class AnswerEngine:
    """BM25 over folded syllables and syllable pairs, one document per title or example question.

    Ranking: the best question of each entry (BM25), blended with how much of the query the entry
    covers. Confidence: the idf-weighted share of the query's words (and word pairs) the entry knows;
    unknown words weigh as much as the rarest known word, so off-topic questions score low.
    Answer when confidence >= CONF and the winner leads the runner-up by MARGIN (or is very sure).
    """

    K1, B = 1.2, 0.75
    UNI = 0.7  # weight of single words vs word pairs in the confidence
    CONF = 0.51  # confidence needed to answer
    SURE = 0.75  # confidence that answers even when the runner-up is close
    MARGIN = 0.05  # relative lead over the runner-up otherwise
    CANDIDATES = 10
    PAGE_COVER = 0.25  # coverage credit of a word only the trade page has (weaker evidence than a question)
    PAGE_WEIGHT = 0.5  # BM25 weight of a trade page's text relative to an example question
    RANK_COVERAGE = 0.7  # share of coverage (vs relative BM25) in the final ranking
    TRADE_BONUS = 0.1  # ranking bonus of a trade the question names ("nghề hàn", "cơ khí")
    TITLE_WEIGHT = 0.1  # ranking bonus, times the share of the question's words found in the title
    EXTRA_WEIGHT = 0.3  # ranking malus, times the share of the closest example's words the question lacks
    UNNAMED_MALUS = 0.05  # ranking malus of every trade when the question names none
    NUMBER_WEIGHT = 1.0  # coverage weight of a number no entry knows ("30 tuổi"): not an off-topic word

    def __init__(self, entries: list) -> None:
        entries = sorted(entries, key=lambda e: e.id)  # deterministic whatever the input order
        self.ids = [e.id for e in entries]
        doc_terms: list[Counter] = []
        doc_boost: list[float] = []
        starts: list[int] = []
        self.entry_terms: list[set[str]] = []
        df: Counter = Counter()
        self.title_terms: list[frozenset[str]] = []
        self.forms: list[dict[str, set[str]]] = []  # per entry: folded word -> the ways it is written
        self.doc_words: list[frozenset[str]] = []  # per document: its words that are not filler
        self.page_only: list[frozenset[str]] = []  # per entry: words only its trade page has
        self.exact: dict[str, int] = {}  # an example question or title, as words -> its entry
        for index, entry in enumerate(entries):
            starts.append(len(doc_terms))
            known: set[str] = set()
            self.title_terms.append(frozenset(t for t in tokens(entry.title) if t not in STOP))
            forms: dict[str, set[str]] = defaultdict(set)
            self.forms.append(forms)
            texts = (entry.title, *entry.questions, *getattr(entry, "tags", ()))
            for text in (*texts, entry.answer) if entry.kind == "trade" else texts:
                for plain in normalize(text).split():  # as written: accented, or plain (any accent)
                    forms[fold(plain)].add(plain)
            for text in texts:
                toks = tokens(text)
                self.exact.setdefault(" ".join(toks), index)
                self.doc_words.append(frozenset(t for t in toks if t not in STOP))
                terms = Counter(self.features(toks))
                doc_terms.append(terms)
                doc_boost.append(1.0)
                known.update(terms)
            if entry.kind == "trade":
                # A trade's page lists what one learns and where one works: specific words people
                # use ("cắt may quần áo", "máy CNC") that its example questions may not contain.
                terms = Counter(self.features(tokens(entry.answer)))
                self.doc_words.append(frozenset())  # a page is long: what it does not say is no evidence
                doc_terms.append(terms)
                doc_boost.append(self.PAGE_WEIGHT)
                self.page_only.append(frozenset(t for t in terms if t not in known))
                known.update(terms)
            else:
                self.page_only.append(frozenset())
            # Document frequency counts entries, not questions: a word every question of one entry
            # repeats ("hàn") is that entry's signature and must stay rare, not become common.
            df.update(known)
            self.entry_terms.append(known)
        n = max(len(entries), 1)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
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
        self.starts = np.array(starts, dtype=np.int64)
        self.vocab = sorted(t for t in df if " " not in t)
        self.vocab_set = frozenset(self.vocab)
        # Per document, the total weight of its words (the "narrower entry" rule subtracts what a
        # question shares with it): precomputed, it is the hot loop of a question.
        self.doc_weight = [sum(self.weight(t) for t in words) for words in self.doc_words]
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
            if a in STOP and b in STOP)

    def weight(self, term: str) -> float:
        """A query word's weight in coverage: its idf (unknown words weigh most), generic words less."""
        w = self.idf.get(term, self.NUMBER_WEIGHT if term.isdigit() else self.max_idf)
        return w * GENERIC_WEIGHT if term in GENERIC else w

    @classmethod
    def build(cls, entries: Iterable) -> AnswerEngine:
        """Index entries (anything with id, title, questions and optionally tags)."""
        return cls(list(entries))

    @staticmethod
    def features(toks: list[str]) -> list[str]:
        content = [t for t in toks if t not in STOP] or toks
        return content + [f"{a} {b}" for a, b in itertools.pairwise(toks)]

    def correct(self, toks: list[str], keep: frozenset[str] | set[str] = frozenset()) -> list[str]:
        """Replace unknown words of 4+ letters by the closest known word (typos), if close enough.
        Words in `keep` (typed with diacritics: an input method spelled them) stay. Between equally
        close words, the one that makes a known pair with a neighbour wins ("tuyen sing" -> "sinh",
        not "sang"), then the most common one."""
        out = list(toks)
        for j, t in enumerate(toks):
            if t in self.vocab_set or t in STOP or len(t) < 4 or t.isdigit() or t in keep:
                continue
            found = process.extract(t, self.vocab, scorer=Levenshtein.normalized_similarity, score_cutoff=0.75,
                                    limit=8)
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
                            after is None or after in STOP or after in GENERIC):
                        continue
                found.add(i)
        return found

    def answer(self, text: str) -> Match:
        """The best entry for `text`, or kind "none" with suggestions when not confident."""
        text = text or ""
        norm = normalize(text)
        toks = tokens(text)
        if not toks:
            return Match("empty", None, 0.0, norm, ())
        folded = " ".join(toks)
        if GREET.match(folded):
            return Match("greeting", None, 1.0, norm, ())
        if THANKS.match(folded):
            return Match("thanks", None, 1.0, norm, ())
        typed = {f for f, _ in word_forms(text)}
        toks = self.correct(toks, typed)
        found = [self.postings[t] for t in set(self.features(toks)) if t in self.postings]
        if not found or not self.ids:
            return Match("none", None, 0.0, norm, ())
        docs = np.concatenate([d for d, _ in found])
        weights = np.concatenate([w for _, w in found])
        scores = np.bincount(docs, weights=weights, minlength=self.n_docs)
        best = np.maximum.reduceat(scores, self.starts)
        k = min(self.CANDIDATES, len(best))
        top = np.argpartition(-best, k - 1)[:k]
        ranked = sorted((int(i) for i in top if best[i] > 0), key=lambda i: (-best[i], i))
        s_max = float(best[ranked[0]])

        content = [t for t in toks if t not in STOP]
        content += [p for p in map(" ".join, itertools.pairwise(toks)) if p in self.compounds]
        content = content or toks
        qw = {t: self.weight(t) for t in content}
        total = sum(qw[t] for t in content)
        named = self.named_trades(toks)
        pairs = [f"{a} {b}" for a, b in itertools.pairwise(toks) if not (a in STOP and b in STOP)]
        pair_total = sum(self.idf.get(t, self.max_idf * 0.5) for t in pairs)
        qset = set(content)
        # Words typed with diacritics that fold onto another word ("lái" and "lại", "bằng" and
        # "băng"): an entry knows them only if it writes them that way, or without diacritics.
        accented = {f: w for f, w in word_forms(text) if f in qset}
        results = []
        for i in ranked:
            known = self.entry_terms[i]
            if accented:
                forms = self.forms[i]
                known = known - {f for f, w in accented.items() if f in forms and w not in forms[f]
                                 and f not in forms[f]}
            page_only = self.page_only[i]
            cov = sum(qw[t] * (self.PAGE_COVER if t in page_only else 1.0) for t in content if t in known) / total
            if pair_total:
                pair_cov = sum(self.idf[t] for t in pairs if t in known) / pair_total
                cov = self.UNI * cov + (1 - self.UNI) * pair_cov
            rel = float(best[i]) / s_max
            # The title says what the entry is about: of entries that know the words equally well
            # ("miễn học phí" is in the fee-waiver, disability and veterans entries), the one whose
            # title has them is the question's topic.
            title = sum(qw[t] for t in content if t in self.title_terms[i]) / total
            bonus = self.TITLE_WEIGHT * title
            # The entry's example that says least beyond the question: when even that one adds
            # words ("con gái học nghề gì dễ xin việc" for "học nghề gì dễ xin việc"), the entry
            # is about something narrower than what was asked.
            start, end = int(self.starts[i]), int(self.starts[i + 1]) if i + 1 < len(self.starts) else self.n_docs
            extra = min((self.doc_weight[d] - sum(qw[t] for t in self.doc_words[d] & qset)
                         for d in range(start, end) if scores[d] > 0 and self.doc_words[d]), default=0.0)
            if not (named and i in named):  # a named trade's page answers whatever is asked about it
                bonus -= self.EXTRA_WEIGHT * extra / (extra + total)
            if i in self.trade_set:
                if named and i not in named:
                    continue  # a question that names a trade is about that trade, never another one
                # One that names none is more often a general question ("ra trường có dễ xin việc không").
                bonus += self.TRADE_BONUS if named else -self.UNNAMED_MALUS
            results.append((self.RANK_COVERAGE * cov + (1 - self.RANK_COVERAGE) * rel + bonus, cov, i))
        if not results:
            return Match("none", None, 0.0, norm, ())
        results.sort(key=lambda r: (-r[0], r[2]))
        rank, conf, winner = results[0]
        runner = results[1][0] if len(results) > 1 else 0.0
        margin = (rank - runner) / rank if rank else 0.0
        suggestions = tuple((self.ids[i], round(min(1.0, c), 3)) for _, c, i in results[:3])
        score = round(min(1.0, conf), 4)
        if not any(t not in GENERIC for t in content):
            # Only words every topic shares ("học nghề ở đâu", "học trường nào"): every entry knows
            # them, so coverage says nothing. Answer only a question an entry lists word for word.
            exact = self.exact.get(" ".join(toks))
            if exact is None:
                return Match("none", None, score, norm, suggestions)
            return Match("answer", self.ids[exact], 1.0, norm, tuple(x for x in suggestions if x[0] != self.ids[exact]))
        if conf >= self.CONF and (margin >= self.MARGIN or conf >= self.SURE):
            return Match("answer", self.ids[winner], score, norm, suggestions[1:])
        return Match("none", None, score, norm, suggestions)
