"""Stage 5: question -> ranked chunks, dense (FAISS) and BM25 fused.

Three signals are fused: the dense similarity of the whole chunk, the dense
similarity of its best sentence, and BM25. Fusion is a weighted sum of
per-query min-max normalised scores over the union of the candidates. Method
and weights were chosen by evaluation (``benchmarks/tune_fusion.py`` and
``benchmarks/tune_sentences.py``; README "Retrieval quality"): on SQuAD
paragraphs reciprocal-rank fusion loses to BM25 alone, score fusion beats
both, and the sentence signal adds the most.

Follow-up questions ("Who co-chaired it?") are resolved without an LLM: when a
question is short or leans on a pronoun, the content words of the earlier
questions are added to it, so both retrievers see the topic again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .embedding import Encoder
from .store import Index, bm25_tokenize

__all__ = ["FusionConfig", "Hit", "Retriever", "SearchResult", "resolve_followup", "content_words"]


@dataclass(frozen=True)
class FusionConfig:
    """Weights of the three signals in convex fusion, chosen on SQuAD by benchmarks/tune_sentences.py."""

    method: str = "convex"  # convex | rrf | dense | bm25
    paragraph: float = 0.3  # dense similarity of the whole chunk
    sentence: float = 0.4  # dense similarity of the chunk's best sentence
    bm25: float = 0.3
    candidates: int = 100  # per retriever, before fusion
    rrf_k: int = 60


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
_PRONOUNS = frozenset("it its they them their theirs he him his she her this that these those there such".split())
_QUESTION_WORDS = frozenset(
    """who whom whose what which when where why how and also about did does do was were is are be been
    has have had will would can could should may might the a an of in on at to for with by from as
    tell me please say said else other more many much""".split()
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


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


class Retriever:
    """Dense + BM25 search over one loaded :class:`Index`."""

    def __init__(self, index: Index, encoder: Encoder, fusion: FusionConfig = FusionConfig()) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion = fusion

    def bm25_scores(self, query: str) -> np.ndarray:
        tokens = bm25_tokenize([query])[0]
        if not tokens:
            return np.zeros(len(self.index), dtype=np.float32)
        return np.asarray(self.index.bm25.get_scores(tokens), dtype=np.float32)

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
            mask &= np.array([any(needle in (field or "").lower() for field in (c.organisation, c.section, c.source, *c.also_in))
                              for c in chunks])
        return mask

    def search(self, question: str, k: int = 5, history: Sequence[str] = (), method: str | None = None,
               allowed: np.ndarray | None = None) -> SearchResult:
        """Rank chunks for a question; with ``allowed`` (a boolean mask), only those chunks compete: k come from inside."""
        method = method or self.fusion.method
        timings: dict[str, float] = {}
        query, used_history = resolve_followup(question, history)
        n = len(self.index)
        allowed_rows = np.flatnonzero(allowed) if allowed is not None else None
        if allowed_rows is not None and len(allowed_rows) == 0:
            return SearchResult([], query, np.zeros(self.index.vectors.d, np.float32), used_history, timings)
        pool = min(n if allowed_rows is None else len(allowed_rows), max(self.fusion.candidates, k))

        carried = query[len(question):].strip() if used_history else ""
        carry = carry_weight(question) if carried else 0.0
        t = time.perf_counter()
        if method == "bm25":
            qvec = np.zeros(self.index.vectors.d, np.float32)
        elif carried:  # the question, pulled towards the earlier topic: blend, don't concatenate
            own, topic = self.encoder.encode([question, carried])
            qvec = own + carry * topic
            qvec = (qvec / np.linalg.norm(qvec)).astype(np.float32)
        else:
            qvec = self.encoder.encode_query(question)
        timings["encode_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        dense_rows = np.zeros(0, dtype=np.int64)
        best_sentence: dict[int, float] = {}
        sentence_floor = 0.0
        if method != "bm25":
            _, found = _search(self.index.vectors, qvec, pool, allowed_rows)
            dense_rows = found[0][found[0] >= 0]
            sentence_ids = None if allowed is None else np.flatnonzero(allowed[self.index.sentence_table[:, 0]])
            n_sentences = self.index.sentences.ntotal if sentence_ids is None else len(sentence_ids)
            if method == "convex" and n_sentences:  # only score fusion uses the sentence signal
                s_scores, s_rows = _search(self.index.sentences, qvec, min(n_sentences, 3 * pool), sentence_ids)
                valid = s_rows[0] >= 0
                for owner, score in zip(self.index.sentence_table[s_rows[0][valid], 0], s_scores[0][valid]):
                    best_sentence.setdefault(int(owner), float(score))  # results come best first
                sentence_floor = float(s_scores[0][valid].min()) if valid.any() else 0.0
        timings["dense_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        bm25_all = self.bm25_scores(question) if method != "dense" else np.zeros(n, dtype=np.float32)
        if carried and method != "dense":  # topic words count half, on the same scale: they must not drown the question's own
            topic = self.bm25_scores(carried)
            bm25_all = bm25_all / max(float(bm25_all.max()), 1e-9) + carry * topic / max(float(topic.max()), 1e-9)
        if allowed is not None:
            bm25_all = np.where(allowed, bm25_all, 0.0).astype(np.float32)
        if method != "dense":
            top = np.argpartition(-bm25_all, pool - 1)[:pool] if pool < n else np.arange(n)
            bm25_rows = top[np.argsort(-bm25_all[top], kind="stable")]
            bm25_rows = bm25_rows[bm25_all[bm25_rows] > 0]
        else:
            bm25_rows = np.zeros(0, dtype=np.int64)
        timings["bm25_ms"] = (time.perf_counter() - t) * 1000

        t = time.perf_counter()
        sentence_rows = np.fromiter(best_sentence, dtype=np.int64, count=len(best_sentence))
        rows = np.unique(np.concatenate([dense_rows, bm25_rows, sentence_rows])).astype(np.int64)
        if len(rows) == 0:
            rows = (np.arange(n) if allowed_rows is None else allowed_rows)[:k].astype(np.int64)
        dense = self.index.vectors.reconstruct_batch(rows) @ qvec if method != "bm25" else np.zeros(len(rows), np.float32)
        sparse = bm25_all[rows]
        sent = np.array([best_sentence.get(int(r), sentence_floor) for r in rows], dtype=np.float32)
        dense_rank = {int(r): i + 1 for i, r in enumerate(dense_rows)}
        bm25_rank = {int(r): i + 1 for i, r in enumerate(bm25_rows)}
        f = self.fusion
        if method == "dense":
            fused = dense
        elif method == "bm25":
            fused = sparse
        elif method == "rrf":
            c = f.rrf_k
            fused = np.array([1 / (c + dense_rank.get(int(r), 10**6)) + 1 / (c + bm25_rank.get(int(r), 10**6)) for r in rows])
        else:
            fused = f.paragraph * _minmax(dense) + f.sentence * _minmax(sent) + f.bm25 * (
                _minmax(sparse) if sparse.max() > 0 else np.zeros_like(sparse))
        order = np.argsort(-fused, kind="stable")[:k]
        hits = [
            Hit(int(rows[i]), float(fused[i]), float(dense[i]), float(sparse[i]),
                dense_rank.get(int(rows[i])), bm25_rank.get(int(rows[i])), float(sent[i]))
            for i in order
        ]
        timings["fusion_ms"] = (time.perf_counter() - t) * 1000
        return SearchResult(hits, query, qvec, used_history, timings)
