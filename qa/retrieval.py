"""Stage 5: question -> ranked chunks, dense (FAISS) and BM25 fused.

Four signals are fused: the dense similarity of the whole chunk, the dense
similarity of its best sentence, BM25 of the chunk and BM25 of the chunk's
whole release (:class:`ReleaseBM25`). Fusion is a weighted sum of per-query
min-max normalised scores over the union of the candidates. Method and
weights were chosen by evaluation (README "Retrieval quality"): on SQuAD
paragraphs reciprocal-rank fusion loses to BM25 alone, score fusion beats
both, and the sentence signal adds the most; over the Senate dev set, the seed
paraphrase set and SQuAD together, BM25 at 0.5 and the release score help.

Follow-up questions ("Who co-chaired it?") are resolved without an LLM: when a
question is short or leans on a pronoun, the content words of the earlier
questions are added to it, so both retrievers see the topic again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .chunking import bm25_tokenize
from .config import FusionConfig, check_method
from .embedding import Encoder
from .index import Index
from .manifest import BM25_PARAMS

__all__ = [
    "FUSIONS",
    "Fusion",
    "FusionConfig",
    "Hit",
    "ReleaseBM25",
    "Retriever",
    "SearchResult",
    "carry_weight",
    "content_words",
    "minmax",
    "resolve_followup",
    "stop_word",
]


@dataclass
class Hit:
    row: int
    score: float
    dense_score: float
    bm25_score: float
    dense_rank: int | None  # 1-based within the dense candidates, None if not among them
    bm25_rank: int | None
    sentence_score: float = 0.0  # best sentence's similarity (a floor when no sentence of the chunk was retrieved)


@dataclass
class SearchResult:
    hits: list[Hit]
    query: str  # what was searched after follow-up resolution
    query_vector: np.ndarray
    followup: bool
    timings: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ follow-ups

CARRY_WEIGHT = 0.5  # how much the earlier topic counts for a follow-up with one or two words of its own
_PRONOUNS = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "he",
        "him",
        "his",
        "she",
        "her",
        "this",
        "that",
        "these",
        "those",
        "there",
        "such",
    ]
)
_QUESTION_WORDS = frozenset(
    [
        "who",
        "whom",
        "whose",
        "what",
        "which",
        "when",
        "where",
        "why",
        "how",
        "and",
        "also",
        "about",
        "did",
        "does",
        "do",
        "was",
        "were",
        "is",
        "are",
        "be",
        "been",
        "has",
        "have",
        "had",
        "will",
        "would",
        "can",
        "could",
        "should",
        "may",
        "might",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "by",
        "from",
        "as",
        "tell",
        "me",
        "please",
        "say",
        "said",
        "else",
        "other",
        "more",
        "many",
        "much",
    ]
)
_WORD = re.compile(r"[\w][\w'’-]*")


def stop_word(word: str) -> bool:
    """A question word, pronoun or function word: says nothing about the topic."""
    return word.lower() in _QUESTION_WORDS or word.lower() in _PRONOUNS


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if not stop_word(w) and len(w) > 1]


def is_followup(question: str) -> bool:
    """Short, pronoun-led or 'And ...'/'What about ...' questions lean on what came before."""
    words = [w.lower() for w in _WORD.findall(question)]
    if not words:
        return False
    leading = words[0] in {"and", "also", "but", "so"} or question.lower().startswith(("what about", "how about"))
    has_pronoun = any(w in _PRONOUNS for w in words)
    return leading or (has_pronoun and len(content_words(question)) <= 4) or len(content_words(question)) <= 1


def carry_weight(question: str) -> float:
    """The less a follow-up says itself, the more the earlier topic counts.

    "Who co-chaired it?" is all topic; "Which country joined it as the 18th member?"
    carries its own answer words, and a full-strength topic pulls it back to the
    earlier question's paragraph. Chosen on the dev split of eval/seed_qa.jsonl.
    """
    return CARRY_WEIGHT * min(1.0, 2 / max(len(content_words(question)), 1))


def resolve_followup(question: str, history: Sequence[str]) -> tuple[str, bool]:
    """(query to search, whether history was used). A self-contained question is left alone."""
    history = [h for h in history if h and h.strip()]
    if not history or not is_followup(question):
        return question, False
    carried: list[str] = []
    seen = {w.lower() for w in content_words(question)}
    for earlier in reversed(history[-3:]):  # the topic lives in the latest self-contained question
        for w in content_words(earlier):
            if w.lower() not in seen:
                seen.add(w.lower())
                carried.append(w)
        if not is_followup(earlier):
            break
    return (f"{question} {' '.join(carried)}" if carried else question), bool(carried)


# ------------------------------------------------------------------- retrieval


def minmax(x: np.ndarray) -> np.ndarray:
    """Per-query min-max normalisation: fusion adds scores of different scales."""
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


@dataclass
class Signals:
    """The candidates' scores from each retriever, row-aligned with ``rows``."""

    rows: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    sentence: np.ndarray
    release: np.ndarray  # BM25 of the question against each candidate's whole release
    dense_rank: dict[int, int]
    bm25_rank: dict[int, int]


def _lexical(x: np.ndarray) -> np.ndarray:
    return minmax(x) if x.max() > 0 else np.zeros_like(x)


def _convex(s: Signals, f: FusionConfig) -> np.ndarray:
    """Weighted sum of the normalised signals, divided by the weights' total so a passage scores in [0, 1]."""
    total = (f.paragraph + f.sentence + f.bm25 + f.release) or 1.0
    return (
        f.paragraph * minmax(s.dense)
        + f.sentence * minmax(s.sentence)
        + f.bm25 * _lexical(s.bm25)
        + f.release * _lexical(s.release)
    ) / total


def _rrf(s: Signals, f: FusionConfig) -> np.ndarray:
    c = f.rrf_k
    return np.array([1 / (c + s.dense_rank.get(int(r), 10**6)) + 1 / (c + s.bm25_rank.get(int(r), 10**6)) for r in s.rows])


@dataclass(frozen=True)
class Fusion:
    """Which retrievers a method runs and how it combines their scores."""

    dense: bool
    bm25: bool
    sentences: bool  # only score fusion uses the sentence signal
    combine: Callable[[Signals, FusionConfig], np.ndarray]


FUSIONS: dict[str, Fusion] = {
    "convex": Fusion(True, True, True, _convex),
    "rrf": Fusion(True, True, False, _rrf),
    "dense": Fusion(True, False, False, lambda s, f: s.dense),
    "bm25": Fusion(False, True, False, lambda s, f: s.bm25),
}


@dataclass
class _Query:
    question: str
    carried: str  # topic words from earlier questions, "" when none
    carry: float
    pool: int
    allowed: np.ndarray | None
    allowed_rows: np.ndarray | None


class ReleaseBM25:
    """BM25 of a question against each chunk's *whole release*, so every passage shares its release's score.

    A passage that gives the detail asked for rarely repeats the names, place
    and event the rest of its release states; this credits it with them.
    Built from the stored chunks when first needed (the index format is unchanged).
    """

    def __init__(self, index: Index) -> None:
        import bm25s

        sources = [c.source for c in index.chunks]
        order = {s: i for i, s in enumerate(dict.fromkeys(sources))}
        texts: list[list[str]] = [[] for _ in order]
        for c in index.chunks:
            texts[order[c.source]].append(c.text)
        self.model = bm25s.BM25(**BM25_PARAMS)
        self.model.index(bm25_tokenize(["\n".join(t) for t in texts]), show_progress=False)
        self.release_of = np.array([order[s] for s in sources], dtype=np.int64)

    def scores(self, query: str) -> np.ndarray:
        """One score per chunk: its release's."""
        tokens = bm25_tokenize([query])[0]
        if not tokens:
            return np.zeros(len(self.release_of), dtype=np.float32)
        return np.asarray(self.model.get_scores(tokens), dtype=np.float32)[self.release_of]


class Retriever:
    """Dense + BM25 search over one loaded :class:`Index`."""

    def __init__(self, index: Index, encoder: Encoder, fusion: FusionConfig = FusionConfig()) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion = fusion
        self._releases: ReleaseBM25 | None = None

    @property
    def releases(self) -> ReleaseBM25:
        if self._releases is None:
            self._releases = ReleaseBM25(self.index)
        return self._releases

    def bm25_scores(self, query: str) -> np.ndarray:
        return self.index.bm25_scores(query)

    def filter_mask(self, since: str | None = None, until: str | None = None, source: str | None = None) -> np.ndarray | None:
        """Chunks inside a date range and/or from a source (organisation, section or file path, case-insensitive).

        Undated chunks are outside any date range. None when there is no filter.
        """
        if not (since or until or source):
            return None
        chunks = self.index.chunks
        mask = np.ones(len(chunks), dtype=bool)
        if since or until:
            dates = [c.date or "" for c in chunks]
            mask &= np.array([bool(d) and (not since or d >= since) and (not until or d <= until) for d in dates])
        if source:
            needle = source.lower()
            mask &= np.array(
                [
                    any(needle in (field or "").lower() for field in (c.organisation, c.section, c.source, *c.also_in))
                    for c in chunks
                ]
            )
        return mask

    def search(
        self, question: str, k: int = 5, history: Sequence[str] = (), method: str | None = None, allowed: np.ndarray | None = None
    ) -> SearchResult:
        """Rank chunks for a question; with ``allowed`` (a boolean mask), only those chunks compete: k come from inside."""
        fusion = FUSIONS[check_method(method or self.fusion.method)]
        timings: dict[str, float] = {}
        query, used_history = resolve_followup(question, history)
        n = len(self.index)
        allowed_rows = np.flatnonzero(allowed) if allowed is not None else None
        if allowed_rows is not None and len(allowed_rows) == 0:
            return SearchResult([], query, np.zeros(self.index.vectors.d, np.float32), used_history, timings)
        carried = query[len(question) :].strip() if used_history else ""
        q = _Query(
            question,
            carried,
            carry_weight(question) if carried else 0.0,
            min(n if allowed_rows is None else len(allowed_rows), max(self.fusion.candidates, k)),
            allowed,
            allowed_rows,
        )
        t = time.perf_counter()
        qvec = self._query_vector(q) if fusion.dense else np.zeros(self.index.vectors.d, np.float32)
        timings["encode_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        dense_rows, best_sentence, floor = self._dense(q, qvec, fusion)
        timings["dense_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        bm25_all, bm25_rows = self._bm25(q) if fusion.bm25 else (np.zeros(n, dtype=np.float32), np.zeros(0, dtype=np.int64))
        timings["bm25_ms"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        hits = self._fuse(q, k, fusion, qvec, dense_rows, best_sentence, floor, bm25_all, bm25_rows)
        timings["fusion_ms"] = (time.perf_counter() - t) * 1000
        return SearchResult(hits, query, qvec, used_history, timings)

    def _query_vector(self, q: _Query) -> np.ndarray:
        if not q.carried:
            return self.encoder.encode_query(q.question)
        own, topic = self.encoder.encode([q.question, q.carried])  # pulled towards the earlier topic: blend, don't concatenate
        qvec = own + q.carry * topic
        return (qvec / np.linalg.norm(qvec)).astype(np.float32)

    def _dense(self, q: _Query, qvec: np.ndarray, fusion: Fusion) -> tuple[np.ndarray, dict[int, float], float]:
        """Dense candidate rows, and each chunk's best retrieved sentence score (with the floor for the others)."""
        best_sentence: dict[int, float] = {}
        if not fusion.dense:
            return np.zeros(0, dtype=np.int64), best_sentence, 0.0
        _, found = _search(self.index.vectors, qvec, q.pool, q.allowed_rows)
        dense_rows = found[0][found[0] >= 0]
        table = self.index.sentence_table
        sentence_ids = None if q.allowed is None else np.flatnonzero(q.allowed[table[:, 0]])
        n_sentences = self.index.sentences.ntotal if sentence_ids is None else len(sentence_ids)
        if not (fusion.sentences and n_sentences):
            return dense_rows, best_sentence, 0.0
        s_scores, s_rows = _search(self.index.sentences, qvec, min(n_sentences, 3 * q.pool), sentence_ids)
        valid = s_rows[0] >= 0
        for owner, score in zip(table[s_rows[0][valid], 0], s_scores[0][valid]):
            best_sentence.setdefault(int(owner), float(score))  # results come best first
        return dense_rows, best_sentence, float(s_scores[0][valid].min()) if valid.any() else 0.0

    def _bm25(self, q: _Query) -> tuple[np.ndarray, np.ndarray]:
        """BM25 scores of every chunk, and the candidate rows (best first, score > 0)."""
        bm25_all = self.index.bm25_scores(q.question)
        if q.carried:  # topic words count less, on the same scale: they must not drown the question's own
            topic = self.index.bm25_scores(q.carried)
            bm25_all = bm25_all / max(float(bm25_all.max()), 1e-9) + q.carry * topic / max(float(topic.max()), 1e-9)
        if q.allowed is not None:
            bm25_all = np.where(q.allowed, bm25_all, 0.0).astype(np.float32)
        n, pool = len(bm25_all), q.pool
        top = np.argpartition(-bm25_all, pool - 1)[:pool] if pool < n else np.arange(n)
        rows = top[np.argsort(-bm25_all[top], kind="stable")]
        return bm25_all, rows[bm25_all[rows] > 0]

    def _fuse(
        self,
        q: _Query,
        k: int,
        fusion: Fusion,
        qvec: np.ndarray,
        dense_rows: np.ndarray,
        best_sentence: dict[int, float],
        floor: float,
        bm25_all: np.ndarray,
        bm25_rows: np.ndarray,
    ) -> list[Hit]:
        sentence_rows = np.fromiter(best_sentence, dtype=np.int64, count=len(best_sentence))
        rows = np.unique(np.concatenate([dense_rows, bm25_rows, sentence_rows])).astype(np.int64)
        if len(rows) == 0:
            rows = (np.arange(len(self.index)) if q.allowed_rows is None else q.allowed_rows)[:k].astype(np.int64)
        dense = self.index.vectors.reconstruct_batch(rows) @ qvec if fusion.dense else np.zeros(len(rows), np.float32)
        release = (
            self.releases.scores(f"{q.question} {q.carried}")[rows]
            if fusion.sentences and self.fusion.release
            else np.zeros(len(rows), np.float32)
        )
        signals = Signals(
            rows,
            dense,
            bm25_all[rows],
            np.array([best_sentence.get(int(r), floor) for r in rows], dtype=np.float32),
            release,
            {int(r): i + 1 for i, r in enumerate(dense_rows)},
            {int(r): i + 1 for i, r in enumerate(bm25_rows)},
        )
        fused = fusion.combine(signals, self.fusion)
        order = np.argsort(-fused, kind="stable")[:k]
        return [
            Hit(
                int(rows[i]),
                float(fused[i]),
                float(dense[i]),
                float(signals.bm25[i]),
                signals.dense_rank.get(int(rows[i])),
                signals.bm25_rank.get(int(rows[i])),
                float(signals.sentence[i]),
            )
            for i in order
        ]


def _search(index: object, qvec: np.ndarray, k: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FAISS search, restricted to ``ids`` when given (filters apply before ranking, not after)."""
    import faiss

    if ids is None:
        return index.search(qvec[None, :], k)  # type: ignore[attr-defined]
    selector = faiss.IDSelectorBatch(ids.astype(np.int64))
    if hasattr(index, "hnsw"):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
    elif hasattr(index, "nprobe"):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
    else:
        params = faiss.SearchParameters(sel=selector)
    return index.search(qvec[None, :], k, params=params)  # type: ignore[attr-defined]
