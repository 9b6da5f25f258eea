"""Question -> ranked chunks: dense (FAISS) and BM25 search over one loaded index, fused (:mod:`qa.query.fusion`),
with follow-up questions resolved first (:mod:`qa.query.followup`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config import FusionConfig, check_method
from ..embedding import Encoder
from ..store.index import Index
from .followup import carry_weight, resolve_followup
from .fusion import FUSIONS, Fusion, Signals

__all__ = ["Hit", "Retriever", "SearchResult"]


@dataclass(frozen=True, kw_only=True)
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


@dataclass
class _Query:
    question: str
    carried: str  # topic words from earlier questions, "" when none
    carry: float
    pool: int
    allowed: np.ndarray | None
    allowed_rows: np.ndarray | None


class Retriever:
    """Dense + BM25 search over one loaded :class:`Index`."""

    def __init__(self, index: Index, encoder: Encoder, fusion: FusionConfig | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self.fusion = fusion or FusionConfig()

    def bm25_scores(self, query: str) -> np.ndarray:
        return self.index.bm25_scores(query)

    def filter_mask(self, since: str | None = None, until: str | None = None, source: str | None = None) -> np.ndarray | None:
        """Chunks inside a date range and/or from a source (see :meth:`qa.store.index.Index.filter_mask`)."""
        return self.index.filter_mask(since, until, source)

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
        _, found = self.index.vectors.search(qvec[None, :], q.pool, q.allowed_rows)
        dense_rows = found[0][found[0] >= 0]
        sentence_ids = self.index.sentence_ids(q.allowed)
        n_sentences = self.index.sentences.ntotal if sentence_ids is None else len(sentence_ids)
        if not (fusion.sentences and n_sentences):
            return dense_rows, best_sentence, 0.0
        s_scores, s_rows = self.index.sentences.search(qvec[None, :], min(n_sentences, 3 * q.pool), sentence_ids)
        valid = s_rows[0] >= 0
        for owner, score in zip(self.index.sentence_owners(s_rows[0][valid]), s_scores[0][valid], strict=True):
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
            self.index.release_scores(f"{q.question} {q.carried}")[rows]
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
                row=int(rows[i]),
                score=float(fused[i]),
                dense_score=float(dense[i]),
                bm25_score=float(signals.bm25[i]),
                dense_rank=signals.dense_rank.get(int(rows[i])),
                bm25_rank=signals.bm25_rank.get(int(rows[i])),
                sentence_score=float(signals.sentence[i]),
            )
            for i in order
        ]
