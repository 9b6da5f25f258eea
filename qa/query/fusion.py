"""How the retrievers' scores become one ranking.

Four signals are fused: the dense similarity of the whole chunk, the dense
similarity of its best sentence, BM25 of the chunk and BM25 of the chunk's
whole release. Fusion is a weighted sum of per-query min-max normalised
scores over the union of the candidates. Method and weights were chosen by
evaluation (docs/evaluation.md): on SQuAD paragraphs reciprocal-rank
fusion loses to BM25 alone, score fusion beats both, and the sentence signal
adds the most; over the Senate dev set, the seed paraphrase set and SQuAD
together, BM25 at 0.5 and the release score help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config import FusionConfig

__all__ = ["FUSIONS", "Fusion", "Signals", "minmax"]


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
