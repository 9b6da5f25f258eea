"""Stage 6: retrieved passages -> an Answer: the answering sentence, cited passages, or an honest "not in the releases".

The sentence is the one, among the top passages, whose stored embedding is
closest to the question, nudged by how many of the question's distinctive words
it contains, by whether it holds the kind of thing asked for (a date for
"when") and by its passage's rank. Abstention (:class:`AbstainPolicy`) first
looks at how close the best passage is to the question; when that is
middling, it checks, word by word and in context, whether the passage covers
what the question asks about, and names the words it does not. Its values are
calibrated on held-out questions (``python -m qa eval calibrate``), never on
the questions we report. Everything here is a function of the passages; the
session that owns the index is :mod:`qa.session`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .chunking import Chunk, bm25_tokenize
from .config import AbstainPolicy
from .embedding import Encoder
from .errors import QueryError
from .index import Index
from .retrieval import Hit, SearchResult, stop_word

__all__ = [
    "MAX_K",
    "MAX_QUESTION_CHARS",
    "AbstainPolicy",
    "Answer",
    "Coverage",
    "Passage",
    "Query",
    "best_sentence",
    "check_text",
    "compose_answer",
    "filter_miss",
    "parse_day",
    "question_coverage",
    "validate_history",
    "validate_k",
    "validate_query",
    "validate_question",
    "validate_source",
]

MAX_QUESTION_CHARS = 1000
MAX_K = 50
MAX_SOURCE_CHARS = 200
NO_ANSWER_MESSAGE = "The releases don't cover this question. The closest passages are listed below."


@dataclass
class Passage:
    """A cited passage: enough to find, trust and quote it."""

    rank: int
    score: float
    text: str
    title: str
    date: str | None
    source: str
    paragraph: int
    doc_id: str
    section: str | None = None
    organisation: str | None = None
    language: str | None = None
    also_in: list[str] = field(default_factory=list)  # other files carrying the same release
    part: int = 0
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float = 0.0
    bm25_score: float = 0.0
    sentence_score: float = 0.0  # similarity of the passage's best sentence to the question
    answer_start: int | None = None  # character offsets of the answering sentence inside ``text``
    answer_end: int | None = None

    @classmethod
    def from_chunk(cls, chunk: Chunk, rank: int, hit: Hit) -> Passage:
        return cls(
            rank=rank,
            score=round(hit.score, 6),
            text=chunk.text,
            title=chunk.title,
            date=chunk.date,
            source=chunk.source,
            paragraph=chunk.paragraph,
            doc_id=chunk.doc_id,
            section=chunk.section,
            organisation=chunk.organisation,
            language=chunk.language,
            also_in=list(chunk.also_in),
            part=chunk.part,
            dense_rank=hit.dense_rank,
            bm25_rank=hit.bm25_rank,
            dense_score=round(hit.dense_score, 6),
            bm25_score=round(hit.bm25_score, 6),
            sentence_score=round(hit.sentence_score, 6),
        )


@dataclass
class Answer:
    question: str
    answer: str | None
    no_answer: bool
    passages: list[Passage]
    message: str = ""
    query: str = ""  # what was searched, after follow-up resolution
    followup: bool = False
    confidence: float = 0.0
    coverage: float | None = None  # share of the question the best passage covers; None when not checked
    coverage_words: list[tuple[str, float]] = field(default_factory=list)  # each question word's share
    uncovered: list[str] = field(default_factory=list)  # words the best passage says nothing about ("budget")
    timings: dict[str, float] = field(default_factory=dict)
    id: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of `python -m qa ask --json` (core fields first, extras after)."""
        data: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "no_answer": self.no_answer,
            "passages": [asdict(p) for p in self.passages],
        }
        data.update(
            message=self.message,
            query=self.query,
            followup=self.followup,
            confidence=round(self.confidence, 4),
            coverage=None if self.coverage is None else round(self.coverage, 4),
            coverage_words=[[w, c] for w, c in self.coverage_words],
            uncovered=self.uncovered,
            timings={k: round(v, 2) for k, v in self.timings.items()},
        )
        return data


def parse_day(value: Any, name: str, end: bool = False) -> str | None:
    """'2024', '2024-09' or '2024-09-10' -> a full ISO day (the range's first or last day)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise QueryError(f"{name} must be a date as text like 2024-09-10 (or 2024-09, 2024), got {_shown(value)}")
    value = check_text(value, name).strip()
    if not value:
        return None
    m = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", value)  # ASCII digits only ("٢٠٢٤" is no year)
    if not m:
        raise QueryError(f"{name} must be a date like 2024-09-10 (or 2024-09, 2024), got {_shown(value)}")
    year, month, day = m.group(1), m.group(2), m.group(3)
    if month and not 1 <= int(month) <= 12:
        raise QueryError(f"{name} {value} has month {month}; months run from 01 to 12")
    if day:
        from datetime import date

        try:
            date(int(year), int(month), int(day))
        except ValueError:
            raise QueryError(f"{name} {value} is not a real date") from None
        return value
    if month:
        import calendar

        return f"{year}-{month}-{calendar.monthrange(int(year), int(month))[1] if end else 1:02d}"
    return f"{year}-{'12-31' if end else '01-01'}"


def _shown(value: Any) -> str:
    """A user's value in a message: short, whatever its type or size."""
    try:
        text = repr(value)
    except ValueError:  # an int too large to print
        text = f"a {type(value).__name__} too large to show"
    return text if len(text) <= 40 else text[:37] + "..."


def check_text(value: str, name: str) -> str:
    """Text must be valid Unicode: a lone surrogate (a mis-decoded argument) cannot be tokenized or shown."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryError(
            f"{name} contains a character that is not valid Unicode at position {exc.start}: "
            "retype it or paste it again as plain text"
        ) from None
    return value


def validate_k(k: Any) -> int:
    """A whole number from 1 to MAX_K: 5, 5.0 and "5" are 5; 5.9, "abc", True are refused (the same everywhere)."""
    value: Any = k
    if isinstance(k, str):
        try:
            value = int(k.strip()) if len(k) <= 20 else None
        except ValueError:
            value = None
    elif isinstance(k, float) and k.is_integer():
        value = int(k)
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"k must be a whole number from 1 to {MAX_K}, got {_shown(k)}")
    if not 1 <= value <= MAX_K:
        raise QueryError(f"k must be from 1 to {MAX_K}, got {_shown(value)}")
    return value


def validate_question(question: Any, k: Any = 5) -> tuple[str, int]:
    if question is not None and not isinstance(question, str):
        raise QueryError(f'the question must be text, got {type(question).__name__}: ask e.g. "Who co-chaired the meeting?"')
    if not question or not question.strip():
        raise QueryError('the question is empty: ask something, e.g. "Who co-chaired the meeting?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise QueryError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}: shorten it")
    check_text(question, "the question")
    return question.strip(), validate_k(k)


def validate_history(history: Any) -> list[str]:
    """Earlier questions of the conversation: a list of texts (blank ones dropped, the last 10 kept)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, (list, tuple)):
        raise QueryError(f"history must be a list of earlier questions (texts), got {type(history).__name__}")
    for i, item in enumerate(history):
        if not isinstance(item, str):
            raise QueryError(f"history item {i + 1} must be text (an earlier question), got {type(item).__name__}")
        if len(item) > MAX_QUESTION_CHARS:
            raise QueryError(f"history item {i + 1} is {len(item)} characters long; the limit is {MAX_QUESTION_CHARS}")
        check_text(item, f"history item {i + 1}")
    return [h for h in history if h.strip()][-10:]


def validate_source(source: Any) -> str | None:
    if source is None:
        return None
    if not isinstance(source, str):
        raise QueryError(f"source must be text (part of an organisation, section or file name), got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        raise QueryError(f"source is {len(source)} characters long; the limit is {MAX_SOURCE_CHARS}")
    return check_text(source, "source").strip() or None


@dataclass
class Query:
    """A question with its options, checked: what every public entry (CLI, Python API, chat API) hands on."""

    question: str
    k: int
    history: list[str]
    since: str | None
    until: str | None
    source: str | None


def validate_query(
    question: Any, k: Any = 5, history: Any = None, since: Any = None, until: Any = None, source: Any = None
) -> Query:
    """The one set of checks for every entry point; each message names the option and how to fix it."""
    question, k = validate_question(question, k)
    first, last = parse_day(since, "since"), parse_day(until, "until", end=True)
    if first and last and first > last:
        raise QueryError(f"--since {first} is after --until {last}: swap them")
    return Query(question, k, validate_history(history), first, last, validate_source(source))


def best_sentence(
    index: Index, query: str, qvec: np.ndarray, passages: list[Passage], rows: list[int], top: int = 3
) -> tuple[str | None, float]:
    """Mark the answering sentence in its passage; return it with the evidence strength used for abstention.

    Sentence vectors come from the index (no encoding at query time).
    Lexical evidence uses *local* IDF: a question word found in every
    candidate sentence (the topic) counts little, one found in a single
    sentence ("co-chaired") counts a lot, and so do words that are not
    already in the release's title.
    """
    candidates: list[tuple[int, int, int, int]] = []  # passage, sentence row, start, end
    for p_i, row in enumerate(rows[:top]):
        candidates.extend((p_i, s_row, a, b) for s_row, a, b in index.sentence_spans(row))
    if not candidates:
        return None, 0.0
    texts = [passages[p_i].text[a:b] for p_i, _, a, b in candidates]
    sims = index.sentences.reconstruct_batch(np.array([c[1] for c in candidates], dtype=np.int64)) @ qvec
    stems = [set(t) for t in bm25_tokenize(texts)]
    qstems = set(bm25_tokenize([query])[0])
    weight = {t: math.log(1 + len(candidates) / df) for t in qstems if (df := sum(t in s for s in stems))}
    total = sum(weight.values()) or 1.0
    titles = [set(t) for t in bm25_tokenize([p.title for p in passages[:top]])]
    lexical = np.array(
        [
            sum(w * (0.3 if t in titles[c[0]] else 1.0) for t, w in weight.items() if t in s) / total
            for c, s in zip(candidates, stems)
        ]
    )
    cue = np.array([answer_type_bonus(query, t) for t in texts])
    prior = np.array([-0.05 * c[0] for c in candidates])
    best = int(np.argmax(sims + 0.5 * lexical + cue + prior))
    p_i, _, a, b = candidates[best]
    passages[p_i].answer_start, passages[p_i].answer_end = a, b
    # Evidence: the best dense match of the top passage or of a sentence of the top three. No penalty for
    # question words the corpus never uses: in a small corpus that is most paraphrases ("Korean" where the
    # release says "Korea"), so it refused answerable questions and did not transfer across corpus sizes.
    confidence = max(float(passages[0].dense_score), float(sims.max()))
    return texts[best], confidence


_CUES = [  # question form -> what its answer looks like
    (
        re.compile(r"^\s*(?:when|what (?:year|date|day|month)|since when)\b", re.I),
        re.compile(
            r"\b(?:1[89]\d\d|20\d\d|January|February|March|April|May|June|July|August|September|October|November|December)\b"
        ),
    ),
    (
        re.compile(r"^\s*(?:how (?:many|much|long|old|far)|what (?:number|percentage|share|amount))\b", re.I),
        re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion)\b", re.I),
    ),
    (re.compile(r"^\s*(?:who|whom|whose)\b", re.I), re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b")),
    (re.compile(r"^\s*where\b", re.I), re.compile(r"\b(?:in|at|from|to) (?:the )?[A-Z][a-z]+")),
]


def answer_type_bonus(question: str, sentence: str) -> float:
    """A small push for sentences holding the kind of thing the question asks for (a date for "when", ...)."""
    for asks, looks_like in _CUES:
        if asks.search(question):
            found = {m.group(0) for m in looks_like.finditer(sentence)} - {m.group(0) for m in looks_like.finditer(question)}
            return 0.1 if found else 0.0
    return 0.0


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
        timings=result.timings,
    )


def compose_answer(question: str, result: SearchResult, index: Index, policy: AbstainPolicy, coverage: Coverage) -> Answer:
    """Passages from the hits, the answering sentence marked in its passage, and the decision to answer or abstain."""
    passages = [Passage.from_chunk(index.chunks[h.row], i + 1, h) for i, h in enumerate(result.hits)]
    t = time.perf_counter()
    sentence, confidence = best_sentence(index, result.query, result.query_vector, passages, [h.row for h in result.hits])
    result.timings["answer_ms"] = (time.perf_counter() - t) * 1000
    covered, words = None, []
    if passages and policy.checks(confidence):
        t = time.perf_counter()
        covered, words = coverage(question, passages[0], index.bm25_idf)
        result.timings["coverage_ms"] = (time.perf_counter() - t) * 1000
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
        timings=result.timings,
    )
