"""The ranker's choice for one question: the answering sentence, the level to reply at, the passages by release.

Passages are grouped by release: each release appears once, with the passage holding its best sentence first and
its other retrieved passages folded under it; releases come in the order of their best sentence, then the
releases retrieval found beyond the ranked ones. A passage that is a fragment (a short line) is shown with its
neighbours in the release, so what the reader gets is a unit that reads on its own.
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
    """The best sentence, its level, and up to ``k`` releases' passages in the order shown."""
    scores = ranker.score(d.features)
    if len(scores) == 0:
        return Choice("none", 0.0, None, _retrieval_only(index, d, k))
    best = int(np.argmax(scores))
    probability = ranker.calibrated(float(scores[best]))
    level = ranker.level(probability)
    ranked_hits = {h.row: h.score for h in d.result.hits}
    shown: list[Shown] = []
    releases: list[str] = []
    for i in np.argsort(-scores, kind="stable"):
        c = d.candidates[int(i)]
        if c.source not in releases:
            releases.append(c.source)
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    for rank, source in enumerate(releases, start=1):
        seen: set[int] = set()
        for i in order:
            c = d.candidates[i]
            if c.source != source or c.chunk_row in seen:
                continue
            lead = not seen
            if lead or c.chunk_row in ranked_hits:  # the lead passage, then only passages retrieval found
                shown.append(Shown(c.chunk_row, not lead, rank, float(scores[i]), (c.start, c.end) if lead else None))
            seen.add(c.chunk_row)
    sources = index.chunks.column("source")
    others = [h for h in d.result.hits if sources[h.row] not in releases]
    rank = len(releases)
    for h in others:
        source = sources[h.row]
        if source not in releases:
            releases.append(source)
            rank += 1
            shown.append(Shown(h.row, False, rank, float(h.score)))
        else:
            shown.append(Shown(h.row, True, releases.index(source) + 1, float(h.score)))
    kept = [s for s in shown if s.release_rank <= k]
    return Choice(level, probability, d.candidates[best], kept)


def _retrieval_only(index: Index, d: Described, k: int) -> list[Shown]:
    releases: list[str] = []
    out = []
    sources = index.chunks.column("source")
    for h in d.result.hits:
        source = sources[h.row]
        folded = source in releases
        if not folded:
            releases.append(source)
        out.append(Shown(h.row, folded, releases.index(source) + 1, float(h.score)))
    return [s for s in out if s.release_rank <= k]


def reading_unit(index: Index, row: int) -> tuple[str, int]:
    """The passage's text with its neighbours when it is a fragment, and where the chunk's own text starts in it."""
    chunk = index.chunks[row]
    if len(chunk.text.split()) >= FRAGMENT_WORDS:
        return chunk.text, 0
    rows = release_map(index).rows[chunk.source]
    at = rows.index(row)
    before = index.chunks[rows[at - 1]].text if at > 0 else ""
    after = index.chunks[rows[at + 1]].text if at + 1 < len(rows) else ""
    text = "\n\n".join(t for t in (before, chunk.text, after) if t)
    return text, (len(before) + 2 if before else 0)
