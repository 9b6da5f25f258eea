"""The ranker's choice for one question: the answering sentence, the level to reply at, the passages by release.

Passages are grouped by release: each release appears once, with the passage holding its best sentence first and
its other retrieved passages folded under it; releases come in the order of their best sentence, then the
releases retrieval found beyond the ranked ones. A passage that is a fragment (a short line) is shown with its
neighbours in the release, so what the reader gets is a unit that reads on its own. The model reads English: a
best sentence from a release in another language is shown as the closest passage, never as the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..store.index import Index
from .candidates import Candidate, release_map
from .model import SentenceRanker
from .pipeline import Described

__all__ = ["FRAGMENT_WORDS", "Choice", "Shown", "choose", "reading_unit"]

FRAGMENT_WORDS = 25  # a passage shorter than this is shown with its neighbours
FOLDED = 2  # other passages of a release shown under its lead passage


@dataclass
class Shown:
    """One passage as shown: its chunk row, whether it is folded under its release, the marked sentence's span."""

    row: int
    folded: bool
    release_rank: int  # 1 for the release shown first
    score: float  # the ranker's best score among the passage's sentences (retrieval's score when not ranked)
    span: tuple[int, int] | None = None  # the marked sentence in the chunk's text


@dataclass
class Choice:
    level: str  # "answer", "closest" or "none"
    probability: float  # calibrated: how likely the best sentence answers
    best: Candidate | None
    passages: list[Shown] = field(default_factory=list)


def choose(index: Index, d: Described, ranker: SentenceRanker, k: int) -> Choice:
    """The best sentence, its level, and ``k`` passages in the order shown, grouped by release."""
    scores = ranker.score(d.features)
    if len(scores) == 0:
        return Choice("none", 0.0, None, _fold([(h.row, float(h.score), None) for h in d.result.hits], index, k))
    best = int(np.argmax(scores))
    sureness = ranker.sureness(scores, d.features)
    probability = ranker.calibrated(sureness)
    retrieved = {h.row for h in d.result.hits}
    ranked: list[tuple[int, float, tuple[int, int] | None]] = []
    seen: set[int] = set()
    for i in np.argsort(-scores, kind="stable"):
        c = d.candidates[int(i)]
        if c.chunk_row not in seen:  # each passage once, at its best sentence (the lead of a release marks it)
            seen.add(c.chunk_row)
            ranked.append((c.chunk_row, float(scores[i]), (c.start, c.end)))
    lead = {index.chunks.column("source")[row]: row for row, _, _ in reversed(ranked)}
    ranked = [r for r in ranked if r[0] in retrieved or lead.get(index.chunks.column("source")[r[0]]) == r[0]]
    # Each release is led by the passage of its best sentence (releases in the order of those sentences); its other
    # passages follow in retrieval's order, which judged whole passages, not sentences.
    leads = list(lead.values())
    heads = [r for r in ranked if r[0] in leads]
    rest: list[tuple[int, float, tuple[int, int] | None]] = [
        (h.row, float(h.score), None) for h in d.result.hits if h.row not in leads
    ]
    level = ranker.level(sureness)
    if level == "answer" and index.chunks[d.candidates[best].chunk_row].language not in (None, "", "en"):
        level = "closest"  # the model reads English: a sentence in another language is shown, never given as the answer
    return Choice(level, probability, d.candidates[best], _fold(heads + rest, index, k))


def _fold(order: list[tuple[int, float, tuple[int, int] | None]], index: Index, k: int) -> list[Shown]:
    """Passages in order, grouped by release: each release's first passage leads, at most FOLDED more under it;
    ``k`` passages in all (so every interface's "k passages" holds)."""
    sources = index.chunks.column("source")
    releases: list[str] = []
    folded: dict[str, int] = {}
    out: list[Shown] = []
    for row, score, span in order:
        source = sources[row]
        if source not in releases:
            releases.append(source)
            out.append(Shown(row, False, len(releases), score, span))
        elif folded.get(source, 0) < FOLDED:
            folded[source] = folded.get(source, 0) + 1
            out.append(Shown(row, True, releases.index(source) + 1, score))
    return sorted(out, key=lambda s: s.release_rank)[:k]  # a release's folded passages right under its lead


def reading_unit(index: Index, row: int, through: int | None = None) -> tuple[str, dict[int, int]]:
    """The passage's text, with its neighbours when it is a fragment and on to chunk ``through`` of its release (the
    list its marked sentence introduces), and where each chunk's own text starts in it."""
    chunk = index.chunks[row]
    fragment = len(chunk.text.split()) < FRAGMENT_WORDS
    if not fragment and through is None:
        return chunk.text, {row: 0}
    rows = release_map(index).rows[chunk.source]
    at = rows.index(row)
    first, last = at, at
    if fragment:
        first, last = max(at - 1, 0), min(at + 1, len(rows) - 1)
    if through is not None:
        last = max(last, rows.index(through))
    parts: list[str] = []
    offsets: dict[int, int] = {}
    position = 0
    for r in rows[first : last + 1]:
        text = index.chunks[r].text
        offsets[r] = position
        parts.append(text)
        position += len(text) + 2
    return "\n\n".join(parts), offsets
