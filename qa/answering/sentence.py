"""The answering sentence: among the top passages, the sentence whose stored vector is closest to the question,
nudged by how many of the question's distinctive words it holds, by whether it holds the kind of thing asked for
(a date for "when") and by its passage's rank."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..store.index import Index
from ..store.lexical import bm25_tokenize
from .types import Passage

__all__ = ["SentenceChoice", "answer_type_bonus", "best_sentence"]


@dataclass(frozen=True)
class SentenceChoice:
    """The answering sentence, where it is (passage index, character offsets in its text) and the evidence strength."""

    text: str | None
    confidence: float
    passage: int | None = None
    start: int | None = None
    end: int | None = None


def best_sentence(
    index: Index, query: str, qvec: np.ndarray, passages: list[Passage], rows: list[int], top: int = 3
) -> SentenceChoice:
    """The answering sentence and where it is in its passage, with the evidence strength used for abstention.

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
        return SentenceChoice(None, 0.0)
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
            for c, s in zip(candidates, stems, strict=True)
        ]
    )
    cue = np.array([answer_type_bonus(query, t) for t in texts])
    prior = np.array([-0.05 * c[0] for c in candidates])
    best = int(np.argmax(sims + 0.5 * lexical + cue + prior))
    p_i, _, a, b = candidates[best]
    # Evidence: the best dense match of the top passage or of a sentence of the top three. No penalty for
    # question words the corpus never uses: in a small corpus that is most paraphrases ("Korean" where the
    # release says "Korea"), so it refused answerable questions and did not transfer across corpus sizes.
    confidence = max(float(passages[0].dense_score), float(sims.max()))
    return SentenceChoice(texts[best], confidence, p_i, a, b)


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
