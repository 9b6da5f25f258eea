"""From a question to its described candidates: retrieval, the top releases' sentences, their features.

The one path both the answer (:mod:`qa.session`) and training (:mod:`.train`) take, so the model is trained on
exactly what it later sees.

A question asked after others is answered where its reading puts it (:func:`scope`). Users follow up on the
release they are reading, so a follow-up is answered inside its antecedent's release -- the release the earlier
question was answered from -- when it cannot stand alone (an elliptic "and how much does it cost?": the earlier
question's topic is carried into the search) or when its own words find that release first anyway (then it is
searched as asked). Any follow-up is read on its own when its own words point firmly elsewhere ("who chairs the
sentencing panel", "what did they say about russia" after a question on another release): their best passage
scores as high as most self-contained questions' do, and the antecedent's release scores under half of it (or is
not retrieved at all). Otherwise a question that merely has a pronoun or few words is answered with the
antecedent's release leading and the releases the question finds with the carried topic competing with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..query.followup import ELLIPSIS, NONE, followup_kind
from ..query.retriever import Hit, Retriever, SearchResult
from .candidates import TOP_RELEASES, Candidate, candidates
from .features import Question, describe, question_of

__all__ = ["CONFIDENT", "ELSEWHERE", "HITS", "Described", "Scope", "gather", "scope"]

HITS = 30  # passages retrieval returns: the top releases are read from them
CONFIDENT = 0.9  # a best fused score at least this high: the question's own words name its topic. Nine in ten
# self-contained questions of the SQuAD and Senate dev sets (no history in either) score this high
ELSEWHERE = 0.5  # ... and the antecedent's release scores under this share of the best: the words point elsewhere
CHAIN = 3  # earlier questions a chain of follow-ups is followed back through


@dataclass(frozen=True)
class Scope:
    """Where a question is answered: the retrieval its candidates come from, and the antecedent's release."""

    result: SearchResult
    lead: Hit | None = None  # the antecedent's first passage: its release leads the candidates; None when read alone
    inside: bool = False  # only the antecedent's release is read
    antecedent: Hit | None = None  # the passage that found the antecedent's release (its evidence), for a follow-up


def _release_best(retriever: Retriever, hits: list[Hit]) -> dict[str, float]:
    """Each retrieved release's best passage score, best release first."""
    sources = retriever.index.chunks.column("source")
    best: dict[str, float] = {}
    for h in hits:
        best.setdefault(sources[h.row], h.score)
    return best


def scope(
    retriever: Retriever,
    question: str,
    history: Sequence[str],
    hits: int = HITS,
    method: str | None = None,
    allowed: np.ndarray | None = None,
    chain: int = CHAIN,
) -> Scope:
    """Where a question asked after ``history`` is answered (module docstring): on its own, inside the antecedent's
    release, or with the antecedent's release leading."""
    history = [h for h in history if h and h.strip()]
    kind = followup_kind(question) if history and chain > 0 else NONE
    if kind == NONE:
        return Scope(retriever.search(question, hits, (), method=method, allowed=allowed))
    earlier = scope(retriever, history[-1], history[:-1], hits, method, allowed, chain - 1)
    lead = earlier.lead or (earlier.result.hits[0] if earlier.result.hits else None)
    if lead is None:
        return Scope(retriever.search(question, hits, (), method=method, allowed=allowed))
    release = retriever.index.chunks.column("source")[lead.row]
    own = retriever.search(question, hits, (), method=method, allowed=allowed)
    best = _release_best(retriever, own.hits)
    top = own.hits[0].score if own.hits else 0.0
    if top >= CONFIDENT and best.get(release, 0.0) < ELSEWHERE * top:
        return Scope(own)  # its own words point firmly elsewhere: read alone
    if kind != ELLIPSIS and own.hits and next(iter(best)) == release:  # its own words find the release: read it, as asked
        return Scope(replace(own, followup=True), own.hits[0], inside=True, antecedent=lead)
    carried = retriever.search(question, hits, history, method=method, allowed=allowed)
    return Scope(carried, lead, inside=kind == ELLIPSIS, antecedent=lead)  # elliptic: inside; else the release leads


@dataclass
class Described:
    result: SearchResult
    question: Question
    candidates: list[Candidate]
    features: np.ndarray  # (len(candidates), len(FEATURES))
    timings: dict[str, float] = field(default_factory=dict)
    antecedent: Hit | None = None  # a follow-up's antecedent's first passage, whose release it is answered in


def gather(
    retriever: Retriever,
    question: str,
    history: Sequence[str] = (),
    allowed: np.ndarray | None = None,
    hits: int = HITS,
    method: str | None = None,
) -> Described:
    """Retrieve, list the candidate sentences of the top releases and describe each.

    A question asked after others is answered where :func:`scope` puts it: its antecedent's release leads the
    candidates, or is the only one read.
    """
    where = scope(retriever, question, history, hits, method, allowed)
    result = where.result
    t = time.perf_counter()
    topic = result.query[len(question) :].strip() if result.followup else ""
    q = question_of(question, topic, result.query_vector, result.followup)
    found = result.hits
    if where.lead is not None:
        found = [where.lead] + [h for h in result.hits if h.row != where.lead.row]
    cands = candidates(retriever.index, found, 1 if where.inside else TOP_RELEASES)
    searched = f"{question} {topic}".strip()
    features = describe(
        retriever.index,
        cands,
        q,
        lambda: retriever.index.bm25_scores(searched),
        lambda: retriever.index.release_scores(searched),
    )
    timings = dict(result.timings)
    timings["features_ms"] = (time.perf_counter() - t) * 1000
    return Described(result, q, cands, features, timings, where.antecedent)
