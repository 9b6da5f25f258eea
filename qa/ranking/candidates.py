"""Candidate answer sentences: every sentence of the releases retrieval ranks first, not only of the top passages.

Retrieval is good at finding the right *release*; the sentence that answers often sits in a passage that ranked
low inside it. So the candidates are all sentences of the top few releases (in the order their best passage
ranked), each with where it sits: its passage, its release, the ranks and scores retrieval gave them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from ..query.retriever import Hit
from ..store.index import Index

__all__ = [
    "LIST_WORDS",
    "TOP_RELEASES",
    "Candidate",
    "Piece",
    "ReleaseMap",
    "candidate_text",
    "candidates",
    "introduced",
    "release_map",
]

TOP_RELEASES = 4  # releases whose sentences compete
MAX_SENTENCES = 400  # a cap for very long releases (the first ones in release order are kept)
LIST_WORDS = 60  # what a sentence ending in a colon introduces is read with it, whole sentences up to these many words


@dataclass(frozen=True)
class Candidate:
    """One sentence of a top release and where it sits."""

    sentence_row: int  # row in the index's sentence table
    chunk_row: int
    start: int  # character offsets in the chunk text
    end: int
    source: str
    release_rank: int  # 0 for the release retrieval ranks first
    release_score: float  # its best passage's fused score
    passage_rank: int | None  # 1-based among the hits, None when the passage was not retrieved
    passage_score: float | None
    position: int  # the sentence's number in its release, from 0
    release_sentences: int  # how many sentences the release has


@dataclass
class ReleaseMap:
    """Each release's chunk rows, in reading order (built once per loaded index)."""

    rows: dict[str, list[int]]
    sentence_count: dict[str, int]


_MAPS: dict[int, tuple[weakref.ref[Index], ReleaseMap]] = {}  # by id: an Index (a dataclass) is not hashable


def release_map(index: Index) -> ReleaseMap:
    kept = _MAPS.get(id(index))
    found = kept[1] if kept and kept[0]() is index else None
    if found is None:
        rows: dict[str, list[int]] = {}
        for i, source in enumerate(index.chunks.column("source")):
            rows.setdefault(source, []).append(i)
        owners = index.sentence_table[:, 0]
        per_chunk = np.bincount(owners, minlength=len(index.chunks))
        counts = {source: int(per_chunk[r].sum()) for source, r in rows.items()}
        found = ReleaseMap(rows, counts)
        for key in [k for k, (ref, _) in _MAPS.items() if ref() is None]:
            del _MAPS[key]
        _MAPS[id(index)] = (weakref.ref(index), found)
    return found


def candidates(index: Index, hits: list[Hit], top_releases: int = TOP_RELEASES) -> list[Candidate]:
    """The sentences of the first ``top_releases`` releases among ``hits`` (best first), in reading order."""
    sources = index.chunks.column("source")
    releases: dict[str, float] = {}
    for hit in hits:
        releases.setdefault(sources[hit.row], hit.score)
        if len(releases) == top_releases:
            break
    hit_of = {h.row: (rank, h.score) for rank, h in enumerate(hits, start=1)}
    rmap = release_map(index)
    out: list[Candidate] = []
    for release_rank, (source, score) in enumerate(releases.items()):
        position = 0
        for row in rmap.rows[source]:
            rank, p_score = hit_of.get(row, (None, None))
            for s_row, a, b in index.sentence_spans(row):
                if len(out) >= MAX_SENTENCES:
                    return out
                out.append(
                    Candidate(s_row, row, a, b, source, release_rank, score, rank, p_score, position, rmap.sentence_count[source])
                )
                position += 1
    return out


@dataclass(frozen=True)
class Piece:
    """A sentence that follows a candidate and belongs to its answer (a list the candidate introduces)."""

    chunk_row: int
    start: int
    end: int


def introduced(index: Index, cand: Candidate) -> list[Piece]:
    """What a sentence ending with a colon introduces ("He was charged with the following offences:"): the
    sentences after it in its paragraph and in the release's following paragraphs, whole, up to LIST_WORDS words
    (at least one). Any other sentence introduces nothing: []."""
    text = index.chunks[cand.chunk_row].text
    if not text[cand.start : cand.end].rstrip().endswith(":"):
        return []
    rows = release_map(index).rows[cand.source]
    following = rows[rows.index(cand.chunk_row) + 1 :]
    pieces: list[Piece] = []
    words = 0
    for row in [cand.chunk_row, *following]:
        for _, a, b in index.sentence_spans(row):
            if row == cand.chunk_row and a < cand.end:
                continue
            n = len(index.chunks[row].text[a:b].split())
            if pieces and words + n > LIST_WORDS:
                return pieces
            pieces.append(Piece(row, a, b))
            words += n
    return pieces


def candidate_text(index: Index, cand: Candidate, pieces: list[Piece]) -> str:
    """The candidate as an answer: its sentence, and the list it introduces (``pieces``, :func:`introduced`).

    The ranker describes and learns from the sentence alone: reading the list into its features and labels was
    measured and made the held-out figures worse (docs/training.md); the reader is shown the list it introduces."""
    text = index.chunks[cand.chunk_row].text[cand.start : cand.end]
    row = cand.chunk_row
    for piece in pieces:
        text += (" " if piece.chunk_row == row else "\n") + index.chunks[piece.chunk_row].text[piece.start : piece.end]
        row = piece.chunk_row
    return text
