"""Peers for evaluation: what a user might pick instead of this project, over the same chunks.

BM25 alone (bm25s), dense alone (the same model on the session's backend + FAISS flat), reciprocal-rank fusion of the
two, and txtai's hybrid search (the ``eval`` extra) with the same model's vectors.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .chunking import bm25_tokenize
from .embedding import Encoder
from .errors import QAError
from .session import QA

__all__ = ["Peers", "WindowPeers", "word_windows"]


class Peers:
    """BM25-only and dense-only baselines built from the raw libraries over the same chunk texts (and txtai's hybrid)."""

    def __init__(self, session: QA, txtai: bool = False) -> None:
        import bm25s
        import faiss

        index = session.ensure_index()
        texts = [c.text for c in index.chunks]
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25_tokenize(texts), show_progress=False)
        # The plain model on the session's own backend (ONNX fp32 gives sentence-transformers' vectors to 1e-4),
        # over the chunk text alone: no title, no sentences, no fusion.
        self.encoder = session.encoder
        tag = hashlib.sha256("".join(texts).encode()).hexdigest()[:12]
        cache = session.folder / f"peer-dense-{self.encoder.backend}-{tag}.npy"
        if cache.exists():
            vectors = np.load(cache)
        else:
            vectors = self.encoder.encode(texts, progress=len(texts) > 200)
            np.save(cache, vectors)
        self.flat = faiss.IndexFlatIP(vectors.shape[1])
        self.flat.add(vectors)
        self.n = len(texts)
        self.txtai = _txtai_hybrid(texts, vectors, self.encoder) if txtai else None

    def bm25_rows(self, question: str, k: int) -> list[int]:
        tokens = bm25_tokenize([question])[0]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        top = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in top if scores[i] > 0]

    def dense_rows(self, question: str, k: int) -> list[int]:
        _, rows = self.flat.search(self.encoder.encode_query(question)[None, :].astype(np.float32), k)
        return [int(r) for r in rows[0] if r >= 0]

    def txtai_rows(self, question: str, k: int) -> list[int]:
        assert self.txtai is not None
        return [int(i) for i, _ in self.txtai.search(question, k)]

    def rrf_rows(self, question: str, k: int, c: int = 60) -> list[int]:
        score: dict[int, float] = {}
        for rows in (self.bm25_rows(question, 100), self.dense_rows(question, 100)):
            for rank, row in enumerate(rows, start=1):
                score[row] = score.get(row, 0.0) + 1 / (c + rank)
        return sorted(score, key=lambda r: -score[r])[:k]


def _txtai_hybrid(texts: list[str], vectors: np.ndarray, encoder: Encoder) -> Any:
    """txtai's hybrid index (its own BM25 and score normalisation) over the same chunks and the same model's vectors.

    The vectors reach txtai through its external transform, so nothing is encoded twice; questions are encoded by
    the same encoder.
    """
    try:
        from txtai import Embeddings
    except ImportError:
        raise QAError("the txtai peer needs the eval extra: pip install 'release-qa[eval]' (or pass --no-txtai)") from None
    known = {t: v for t, v in zip(texts, vectors)}

    def transform(batch: list[str]) -> np.ndarray:
        new = [t for t in batch if t not in known]
        fresh = dict(zip(new, encoder.encode(new))) if new else {}
        return np.stack([known[t] if t in known else fresh[t] for t in batch]).astype(np.float32)

    embeddings = Embeddings(method="external", transform=transform, hybrid=True, content=False)
    embeddings.index([(i, text, None) for i, text in enumerate(texts)])
    return embeddings


def word_windows(text: str, size: int = 150, overlap: int = 30) -> list[str]:
    """Windows of ``size`` words, each sharing ``overlap`` words with the one before (the usual RAG chunking)."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else []
    step = size - overlap
    return [" ".join(words[i : i + size]) for i in range(0, len(words) - overlap, step)]


class WindowPeers:
    """The same peers over 150-word windows of each release (30 words of overlap) instead of the project's passages.

    Each method's "answer" is the top window's sentence most similar to the question (same model).
    """

    def __init__(self, session: QA, size: int = 150, overlap: int = 30, txtai: bool = False) -> None:
        import bm25s
        import faiss

        index = session.ensure_index()
        sources = list(dict.fromkeys(c.source for c in index.chunks))
        self.windows: list[tuple[str, str]] = [
            (source, w) for source in sources for w in word_windows("\n".join(session.release_paragraphs(source)), size, overlap)
        ]
        texts = [w for _, w in self.windows]
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25_tokenize(texts), show_progress=False)
        self.encoder = session.encoder
        tag = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:12]
        cache = session.folder / f"peer-windows-{self.encoder.backend}-{tag}.npy"
        if cache.exists():
            vectors = np.load(cache)
        else:
            vectors = self.encoder.encode(texts, progress=len(texts) > 200)
            np.save(cache, vectors)
        self.flat = faiss.IndexFlatIP(vectors.shape[1])
        self.flat.add(vectors)
        self.txtai = _txtai_hybrid(texts, vectors, self.encoder) if txtai else None
        self._sentences: dict[str, np.ndarray] = {}

    def bm25_rows(self, question: str, k: int) -> list[int]:
        tokens = bm25_tokenize([question])[0]
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        top = np.argsort(-scores, kind="stable")[:k]
        return [int(i) for i in top if scores[i] > 0]

    def dense_rows(self, question: str, k: int) -> list[int]:
        _, rows = self.flat.search(self.encoder.encode_query(question)[None, :].astype(np.float32), k)
        return [int(r) for r in rows[0] if r >= 0]

    def rrf_rows(self, question: str, k: int, c: int = 60) -> list[int]:
        score: dict[int, float] = {}
        for rows in (self.bm25_rows(question, 100), self.dense_rows(question, 100)):
            for rank, row in enumerate(rows, start=1):
                score[row] = score.get(row, 0.0) + 1 / (c + rank)
        return sorted(score, key=lambda r: -score[r])[:k]

    def txtai_rows(self, question: str, k: int) -> list[int]:
        assert self.txtai is not None
        return [int(i) for i, _ in self.txtai.search(question, k)]

    def answer(self, question: str, row: int) -> str:
        """The window's sentence most similar to the question."""
        from .chunking import sentence_spans

        text = self.windows[row][1]
        sentences = [text[a:b] for a, b in sentence_spans(text)] or [text]
        missing = [s for s in sentences if s not in self._sentences]
        if missing:
            self._sentences.update(zip(missing, self.encoder.encode(missing)))
        sims = np.array([float(self._sentences[s] @ self.encoder.encode_query(question)) for s in sentences])
        return sentences[int(np.argmax(sims))]
