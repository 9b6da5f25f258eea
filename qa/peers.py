"""Peers for evaluation: what a user might pick instead of this project, over the same chunks.

BM25 alone (bm25s), dense alone (the same model on the session's backend + FAISS flat), reciprocal-rank fusion of the
two, and txtai's hybrid search (the ``eval`` extra) with the same model's vectors.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from .config import DEFAULT_CACHE
from .embedding import Encoder
from .errors import QAError, Remedy
from .session import QA
from .store.lexical import LexicalIndex
from .store.manifest import write_atomic
from .store.vectors import VectorIndex

__all__ = ["Peers", "WindowPeers", "word_windows"]


class Peers:
    """BM25-only and dense-only baselines built from the raw libraries over the same chunk texts (and txtai's hybrid)."""

    def __init__(self, session: QA, txtai: bool = False, cache: Path = DEFAULT_CACHE, texts: list[str] | None = None) -> None:
        """``cache``: the folder the dense peer's vectors are kept in between runs (never the index folder);
        ``texts``: what to search instead of the session's chunks (150-word windows, :class:`WindowPeers`)."""
        texts = texts if texts is not None else [c.text for c in session.ensure_index().chunks]
        self.bm25 = LexicalIndex.build(texts)  # bm25s's own defaults, as a user of the raw library gets
        # The plain model on the session's own backend (ONNX fp32 gives sentence-transformers' vectors to 1e-4),
        # over the chunk text alone: no title, no sentences, no fusion.
        self.encoder = session.encoder
        tag = hashlib.sha256("".join(texts).encode()).hexdigest()[:12]
        stored = cache / "peers" / f"dense-{self.encoder.name}-{self.encoder.backend}-{tag}.npy"
        if stored.exists():
            vectors = np.load(stored, allow_pickle=False)
        else:
            vectors = self.encoder.encode(texts, progress=len(texts) > 200)
            stored.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(stored, _npy_bytes(vectors))
        self.flat = VectorIndex.build(vectors, "flat")
        self.n = len(texts)
        self.txtai = _txtai_hybrid(texts, vectors, self.encoder) if txtai else None

    def bm25_rows(self, question: str, k: int) -> list[int]:
        scores = self.bm25.scores(question)
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


def _npy_bytes(vectors: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    return buffer.getvalue()


def _txtai_hybrid(texts: list[str], vectors: np.ndarray, encoder: Encoder) -> Any:
    """txtai's hybrid index (its own BM25 and score normalisation) over the same chunks and the same model's vectors.

    The vectors reach txtai through its external transform, so nothing is encoded twice; questions are encoded by
    the same encoder.
    """
    try:
        from txtai import Embeddings
    except ImportError:
        raise QAError("the txtai peer needs the eval extra", remedy=Remedy.INSTALL_EXTRA, extra="eval") from None
    known = {t: v for t, v in zip(texts, vectors, strict=True)}

    def transform(batch: list[str]) -> np.ndarray:
        new = [t for t in batch if t not in known]
        fresh = dict(zip(new, encoder.encode(new), strict=True)) if new else {}
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

    def __init__(self, session: QA, txtai: bool = False, cache: Path = DEFAULT_CACHE, size: int = 150, overlap: int = 30) -> None:
        index = session.ensure_index()
        sources = list(dict.fromkeys(c.source for c in index.chunks))
        self.windows: list[tuple[str, str]] = [
            (source, w) for source in sources for w in word_windows("\n".join(session.release_paragraphs(source)), size, overlap)
        ]
        self.peers = Peers(session, txtai, cache, texts=[w for _, w in self.windows])
        self.encoder = session.encoder
        self._sentences: dict[str, np.ndarray] = {}

    def bm25_rows(self, question: str, k: int) -> list[int]:
        return self.peers.bm25_rows(question, k)

    def dense_rows(self, question: str, k: int) -> list[int]:
        return self.peers.dense_rows(question, k)

    def rrf_rows(self, question: str, k: int) -> list[int]:
        return self.peers.rrf_rows(question, k)

    def txtai_rows(self, question: str, k: int) -> list[int]:
        return self.peers.txtai_rows(question, k)

    def answer(self, question: str, row: int) -> str:
        """The window's sentence most similar to the question."""
        from .chunking import sentence_spans

        text = self.windows[row][1]
        sentences = [text[a:b] for a, b in sentence_spans(text)] or [text]
        missing = [s for s in sentences if s not in self._sentences]
        if missing:
            self._sentences.update(zip(missing, self.encoder.encode(missing), strict=True))
        qvec = self.encoder.encode_query(question)
        return sentences[int(np.argmax([float(self._sentences[s] @ qvec) for s in sentences]))]
