"""Retrieved passages -> an Answer: the answering sentence, cited passages, or an honest "not in the releases".

The sentence is chosen by :mod:`qa.answering.sentence`. Abstention (:class:`AbstainPolicy`) first looks at how
close the best passage is to the question; when that is middling, it checks, word by word and in context, whether
the passage covers what the question asks about (:mod:`qa.answering.coverage`), and names the words it does not.
Everything here is a function of the passages; the session that owns the index is :mod:`qa.session`.
"""

from __future__ import annotations

import time
from dataclasses import replace

from ..query.retriever import SearchResult
from ..store.index import Index
from .abstain import AbstainPolicy
from .coverage import Coverage
from .sentence import best_sentence
from .types import Answer, Passage

__all__ = ["NO_ANSWER_MESSAGE", "compose_answer", "filter_miss"]

NO_ANSWER_MESSAGE = "The releases don't cover this question. The closest passages are listed below."


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


def compose_answer(question: str, result: SearchResult, index: Index, policy: AbstainPolicy, coverage: Coverage) -> Answer:
    """Passages from the hits, the answering sentence marked in its passage, and the decision to answer or abstain."""
    passages = [Passage.from_chunk(index.chunks[h.row], i + 1, h) for i, h in enumerate(result.hits)]
    timings = dict(result.timings)
    t = time.perf_counter()
    choice = best_sentence(index, result.query, result.query_vector, passages, [h.row for h in result.hits])
    timings["answer_ms"] = (time.perf_counter() - t) * 1000
    sentence, confidence = choice.text, choice.confidence
    if choice.passage is not None:
        passages[choice.passage] = replace(passages[choice.passage], answer_start=choice.start, answer_end=choice.end)
    covered: float | None = None
    words: list[tuple[str, float]] = []
    if passages and policy.checks(confidence):
        t = time.perf_counter()
        covered, words = coverage(question, passages[0], index.bm25_idf)
        timings["coverage_ms"] = (time.perf_counter() - t) * 1000
    no_answer = not passages or policy.abstains(confidence, covered, words)
    uncovered = [w for w, share in words if share < policy.word]
    message = ""
    if no_answer:
        message = (
            f"The releases don't cover this question: the closest passage never mentions {', '.join(uncovered)}. "
            "The closest passages are listed below."
            if uncovered
            else NO_ANSWER_MESSAGE
        )
    return Answer(
        question=question,
        answer=None if no_answer else sentence,
        no_answer=no_answer,
        passages=passages,
        message=message,
        query=result.query,
        followup=result.followup,
        confidence=confidence,
        coverage=covered,
        coverage_words=words,
        uncovered=uncovered,
        timings=timings,
    )
