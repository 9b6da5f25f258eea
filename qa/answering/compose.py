"""Ranked candidates -> an Answer: the answering sentence, the passages by release, and an honest level.

The sentence and the level come from the learned ranker (:mod:`qa.ranking`): "answer" marks the sentence;
"closest" shows the closest passage without marking a sentence; "none" says the releases do not cover the question
and lists the nearest passages. A deployment's abstention policy (:class:`AbstainPolicy`, QA_ABSTAIN) can make it
stricter and then names the question's words the closest passage never mentions (:mod:`qa.answering.coverage`).
Everything here is a function of the passages; the session that owns the index is :mod:`qa.session`.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..query.retriever import Hit, SearchResult
from ..ranking.candidates import Piece, candidate_text, introduced
from ..ranking.features import FEATURES
from ..ranking.model import SentenceRanker
from ..ranking.pipeline import Described
from ..ranking.select import Shown, choose, reading_unit
from ..store.index import Index
from .abstain import AbstainPolicy
from .coverage import Coverage
from .types import Answer, Passage

__all__ = ["MESSAGES", "NO_ANSWER_MESSAGE", "compose_answer", "filter_miss", "language_note"]

NO_ANSWER_MESSAGE = "The releases don't cover this question. The closest passages are listed below."
CLOSEST_MESSAGE = "The releases may not answer this: the closest passage is below, but no sentence in it clearly does."
MESSAGES = {"answer": "", "closest": CLOSEST_MESSAGE, "none": NO_ANSWER_MESSAGE}


def filter_miss(question: str, result: SearchResult, filters: dict[str, str | None]) -> Answer:
    """The answer when a filter leaves no release to search."""
    wanted = ", ".join(f"{name} {value}" for name, value in filters.items() if value)
    return Answer(
        question,
        None,
        True,
        [],
        message=f"No releases match the filter ({wanted}): widen it or remove it.",
        query=result.query,
        followup=result.followup,
        timings=dict(result.timings),
    )


def _passage(index: Index, shown: Shown, rank: int, hit: Hit | None, mark: bool, pieces: list[Piece]) -> Passage:
    """A shown passage as a reading unit (a fragment with its neighbours), the sentence marked when ``mark`` -- with
    the list it introduces (``pieces``), which the unit then reaches to."""
    passage = Passage.from_chunk(index.chunks[shown.row], rank, hit)
    last = pieces[-1] if mark and pieces else None
    text, offsets = reading_unit(index, shown.row, last.chunk_row if last else None)
    start, end = None, None
    if mark and shown.span:
        start = offsets[shown.row] + shown.span[0]
        end = offsets[last.chunk_row] + last.end if last else offsets[shown.row] + shown.span[1]
    return replace(
        passage,
        score=round(shown.score, 6),
        text=text,
        release_rank=shown.release_rank,
        folded=shown.folded,
        answer_start=start,
        answer_end=end,
    )


def _evidence(described: Described) -> float:
    """The retrieval evidence a deployment's abstention policy reads: the best dense match of a passage or sentence.
    A follow-up answered in its antecedent's release keeps the evidence that found the release: "When was it first
    held?" is on topic because of the question before it, however little its own words match."""
    dense = [float(described.result.hits[0].dense_score)] if described.result.hits else []
    if described.antecedent is not None:
        dense.append(float(described.antecedent.dense_score))
    if len(described.features):
        dense.append(float(described.features[:, FEATURES.index("s_dense")].max()))
    return max(dense, default=0.0)


def compose_answer(
    question: str, described: Described, index: Index, ranker: SentenceRanker, policy: AbstainPolicy, coverage: Coverage, k: int
) -> Answer:
    """The ranker's best sentence marked in its passage, passages grouped by release, and the level to reply at.

    The level comes from the ranker's question-level output; a deployment's abstention policy (QA_ABSTAIN) can
    only make it stricter, and when it checks coverage, the words the closest passage never mentions are named.
    """
    timings = dict(described.timings)
    t = time.perf_counter()
    choice = choose(index, described, ranker, k)
    timings["rank_ms"] = (time.perf_counter() - t) * 1000
    hits = {h.row: h for h in described.result.hits}
    level = choice.level if choice.passages else "none"
    best = choice.best
    pieces = introduced(index, best) if best else []
    passages = [
        _passage(index, shown, i + 1, hits.get(shown.row), level == "answer" and i == 0, pieces)
        for i, shown in enumerate(choice.passages)
    ]
    sentence = candidate_text(index, best, pieces) if best else None
    evidence = _evidence(described)
    covered: float | None = None
    words: list[tuple[str, float]] = []
    if passages and policy.checks(evidence):
        t = time.perf_counter()
        covered, words = coverage(question, passages[0], index.bm25_idf)
        timings["coverage_ms"] = (time.perf_counter() - t) * 1000
    if passages and policy.abstains(evidence, covered, words):
        level = "none"
        passages = [replace(p, answer_start=None, answer_end=None) for p in passages]
    uncovered = [w for w, share in words if share < policy.word]
    message = MESSAGES[level]
    if level == "none" and uncovered:
        message = f"The releases don't cover this question: the closest passage never mentions {', '.join(uncovered)}. " + (
            "The closest passages are listed below."
        )
    return Answer(
        question=question,
        answer=sentence if level == "answer" else None,
        no_answer=level == "none",
        passages=passages,
        message=message,
        query=described.result.query,
        followup=described.result.followup,
        confidence=choice.probability,
        evidence=evidence,
        coverage=covered,
        coverage_words=words,
        uncovered=uncovered,
        timings=timings,
        level=level,
        candidate=sentence,
        ranker=ranker.version,
    )


def language_note(question: str, language: str) -> Answer:
    """The reply to a question in a language the model does not read."""
    message = f"This question looks like {language}. The releases can only be searched in English: please ask in English."
    return Answer(question, None, True, [], message=message, level="none")
