"""From a question to its described candidates: retrieval, the top releases' sentences, their features.

The one path both the answer (:mod:`qa.session`) and training (:mod:`.train`) take, so the model is trained on
exactly what it later sees.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..query.retriever import Retriever, SearchResult
from .candidates import Candidate, candidates
from .features import MAXSIM_SENTENCES, Question, describe, question_of

__all__ = ["HITS", "Described", "gather"]

HITS = 30  # passages retrieval returns: the top releases are read from them


@dataclass
class Described:
    result: SearchResult
    question: Question
    candidates: list[Candidate]
    features: np.ndarray  # (len(candidates), len(FEATURES))
    timings: dict[str, float] = field(default_factory=dict)


def gather(
    retriever: Retriever,
    question: str,
    history: Sequence[str] = (),
    allowed: np.ndarray | None = None,
    hits: int = HITS,
    method: str | None = None,
    late: int = MAXSIM_SENTENCES,
) -> Described:
    """Retrieve, list the candidate sentences of the top releases and describe each.

    For a follow-up, the release its antecedent question finds first leads the candidates (the antecedent is
    retrieved as it was asked, with its own history).
    """
    result = retriever.search(question, hits, history, method=method, allowed=allowed)
    t = time.perf_counter()
    topic = result.query[len(question) :].strip() if result.followup else ""
    q = question_of(question, topic, result.query_vector, result.followup)
    found = result.hits
    if result.followup and history:  # a follow-up asks about its antecedent's release first: it leads the candidates
        earlier = retriever.search(history[-1], hits, history[:-1], method=method, allowed=allowed).hits[:1]
        found = earlier + [h for h in result.hits if not earlier or h.row != earlier[0].row]
    cands = candidates(retriever.index, found)
    searched = f"{question} {topic}".strip()
    features = describe(
        retriever.index,
        cands,
        q,
        retriever.encoder,
        lambda: retriever.index.bm25_scores(searched),
        lambda: retriever.index.release_scores(searched),
        late,
    )
    timings = dict(result.timings)
    timings["features_ms"] = (time.perf_counter() - t) * 1000
    return Described(result, q, cands, features, timings)
