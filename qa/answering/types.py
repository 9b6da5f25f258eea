"""What an answer is: the cited passages and the answer itself, with the one JSON form every interface derives from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

from ..chunking import Chunk
from ..query.retriever import Hit

__all__ = ["Answer", "AnswerRecord", "Passage"]


class AnswerRecord(TypedDict):
    """The JSON form of an :class:`Answer` (:meth:`Answer.to_dict`): `qa ask --json`, the chat's `/ask`, feedback."""

    id: Any
    question: str
    answer: str | None
    no_answer: bool
    level: str
    passages: list[dict[str, Any]]
    message: str
    query: str
    followup: bool
    confidence: float
    coverage: float | None
    coverage_words: list[list[Any]]
    uncovered: list[str]
    candidate: str | None
    ranker: str
    timings: dict[str, float]


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
    release_rank: int = 0  # 1 for the release shown first; a release's passages share it
    folded: bool = False  # another passage of a release already listed: shown under that release's card

    @classmethod
    def from_chunk(cls, chunk: Chunk, rank: int, hit: Hit | None) -> Passage:
        """A passage from its chunk and, when retrieval returned it, its scores (a passage of a ranked release
        that retrieval did not return has none)."""
        if hit is None:
            return cls(
                rank,
                0.0,
                chunk.text,
                chunk.title,
                chunk.date,
                chunk.source,
                chunk.paragraph,
                chunk.doc_id,
                chunk.section,
                chunk.organisation,
                chunk.language,
                list(chunk.also_in),
                chunk.part,
            )
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
    evidence: float = 0.0  # what the abstention policy reads: the best dense match of a passage or sentence
    coverage: float | None = None  # share of the question the best passage covers; None when not checked
    coverage_words: list[tuple[str, float]] = field(default_factory=list)  # each question word's share
    uncovered: list[str] = field(default_factory=list)  # words the best passage says nothing about ("budget")
    timings: dict[str, float] = field(default_factory=dict)
    id: Any = None
    level: str = "answer"  # "answer", "closest" (the closest passage, may not answer) or "none" (not in the releases)
    candidate: str | None = None  # the ranker's best sentence; marked as the answer only at level "answer"
    ranker: str = ""  # version of the answer-sentence model

    def __post_init__(self) -> None:
        if self.no_answer and self.level == "answer":
            self.level = "none"

    def to_dict(self) -> AnswerRecord:
        """The JSON contract of `python -m qa ask --json` (core fields first, extras after)."""
        return AnswerRecord(
            id=self.id,
            question=self.question,
            answer=self.answer,
            no_answer=self.no_answer,
            level=self.level,
            passages=[asdict(p) for p in self.passages],
            message=self.message,
            query=self.query,
            followup=self.followup,
            confidence=round(self.confidence, 4),
            coverage=None if self.coverage is None else round(self.coverage, 4),
            coverage_words=[[w, c] for w, c in self.coverage_words],
            uncovered=self.uncovered,
            candidate=self.candidate,
            ranker=self.ranker,
            timings={k: round(v, 2) for k, v in self.timings.items()},
        )
