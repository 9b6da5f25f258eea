"""Whether a passage covers what a question asks about, word by word and in context."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..embedding import Encoder
from ..query.followup import stop_word
from ..store.lexical import bm25_tokenize
from .types import Passage

__all__ = ["Coverage", "question_coverage"]


def question_coverage(
    question: tuple[list[str], np.ndarray], passage: tuple[list[str], np.ndarray], passage_stems: set[str], idf: Any
) -> tuple[float, list[tuple[str, float]]]:
    """How much of what the question asks about the passage talks about, from 0 to 1; and each word's share.

    Each question word is matched against the passage's words in context (the
    model's token vectors, as BERTScore does): "backing" finds "support",
    "drills" finds "exercises", "budget" finds nothing. A word the passage
    uses (same stem) counts in full. Rare words weigh more (BM25 IDF), question
    and stop words not at all. This is what tells "What was the budget of the
    UN Command?" (on topic, unanswered) from a paraphrase of something stated.
    """
    pieces, q_vectors = question
    words: list[tuple[str, list[int]]] = []
    for i, piece in enumerate(pieces):
        if piece.startswith("##") and words:
            words[-1] = (words[-1][0] + piece[2:], words[-1][1] + [i])
        else:
            words.append((piece, [i]))
    best = (q_vectors @ passage[1].T).max(axis=1) if len(passage[0]) else np.zeros(len(pieces))
    scored: list[tuple[str, float, float]] = []
    for word, rows in words:
        if not any(c.isalnum() for c in word) or stop_word(word):
            continue
        stems = bm25_tokenize([word])[0]
        if not stems:
            continue
        share = 1.0 if stems[0] in passage_stems else float(np.clip(best[rows].mean(), 0.0, 1.0))
        scored.append((word, share, idf(stems[0])))
    if not scored:
        return 1.0, []
    total = sum(w for _, _, w in scored)
    return sum(s * w for _, s, w in scored) / total, [(word, round(s, 3)) for word, s, _ in scored]


class Coverage:
    """:func:`question_coverage` of a question by a passage, with the passages' token vectors cached (LRU-ish, 512)."""

    def __init__(self, encoder: Encoder, size: int = 512) -> None:
        self.encoder = encoder
        self.size = size
        self._cache: dict[tuple[str, str], tuple[tuple[list[str], np.ndarray], set[str]]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def __call__(self, question: str, passage: Passage, idf: Callable[[str], float]) -> tuple[float, list[tuple[str, float]]]:
        text = f"{passage.title}. {passage.text}" if passage.title else passage.text
        key = (passage.doc_id, text)
        q_tokens = self.encoder.token_vectors([question])[0]  # alone: batched with the passage it would be padded
        cached = self._cache.get(key)
        if cached is None:
            cached = (self.encoder.token_vectors([text])[0], set(bm25_tokenize([text])[0]))
            if len(self._cache) >= self.size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = cached
        tokens, stems = cached
        return question_coverage(q_tokens, tokens, stems, idf)
