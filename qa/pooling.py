"""Stage 3a: sentence vectors pooled from their paragraph's own forward pass ("late chunking").

Encoding every sentence again on its own (as ``title\\nsentence``) costs a
second pass over the corpus. The paragraph's pass already holds a contextual
vector for each word piece; a sentence's vector is the mean of its pieces
(with the title's pieces, which the separate text carried, in "late-title"),
found through the tokenizer's character offsets. A sentence past the model's
window has no pieces in that pass and is encoded on its own, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .chunking import Chunk, Sentences, content_key

__all__ = ["RecentStates", "TokenStates", "late_vectors", "pooling_of", "sentence_keys"]


@dataclass
class TokenStates:
    """One text's forward pass, unpooled: what sentence vectors and the coverage check are pooled from."""

    pieces: list[str]  # word pieces, [CLS] and [SEP] included, up to the model's window
    offsets: np.ndarray  # (n, 2) int: each piece's character span in the text
    special: np.ndarray  # (n,) bool: [CLS], [SEP]
    hidden: np.ndarray  # (n, dim) float32, as the model outputs them

    def vector(self) -> np.ndarray:
        """The text's vector, pooled as sentence-transformers does: the mean of every piece, unit length."""
        return _unit(self.hidden.mean(axis=0))

    def covered(self) -> int:
        """Characters of the text inside the window (the end of the last piece)."""
        ends = self.offsets[~self.special, 1]
        return int(ends.max()) if len(ends) else 0

    def word_pieces(self) -> tuple[list[str], np.ndarray]:
        """The text's word pieces with their contextual vectors (unit length), special tokens left out."""
        n = min(len(self.pieces), len(self.hidden))
        keep = np.flatnonzero(~self.special[:n])
        chosen = self.hidden[keep].astype(np.float32)
        chosen /= np.maximum(np.linalg.norm(chosen, axis=1, keepdims=True), 1e-12)
        return [self.pieces[i] for i in keep], chosen

    def rows(self, start: int, end: int) -> np.ndarray:
        """Pieces overlapping the character span [start, end)."""
        return np.flatnonzero(~self.special & (self.offsets[:, 0] < end) & (self.offsets[:, 1] > start))


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def pooling_of(chunking: dict[str, object]) -> str:
    """The sentence pooling a manifest's chunking records (indexes from before it was recorded pooled "separate")."""
    return str(chunking.get("sentence_pooling", "separate"))


def sentence_keys(chunks: Sequence[Chunk], sentences: Sentences, pooling: str) -> list[str]:
    """Content keys of the sentence vectors: a pooled vector depends on its whole paragraph, so its key does too."""
    if pooling == "separate":
        return sentences.keys
    return [content_key(f"{pooling}\0{chunks[row].embed_text}\0{a}:{b}") for row, a, b in sentences.table.tolist()]


def late_vectors(chunk: Chunk, states: TokenStates, spans: Sequence[tuple[int, int]], pooling: str) -> list[np.ndarray | None]:
    """Each sentence span's (in ``chunk.text``) vector pooled from the chunk's pass; None when past the window."""
    shift = len(chunk.embed_text) - len(chunk.text)  # the text follows "title\n" in what was embedded
    title = states.rows(0, shift - 1) if pooling == "late-title" and shift > 1 else np.zeros(0, dtype=np.int64)
    covered = states.covered()
    out: list[np.ndarray | None] = []
    for a, b in spans:
        rows = states.rows(a + shift, b + shift)
        if b + shift > covered or not len(rows):
            out.append(None)
        else:
            out.append(_unit(states.hidden[np.concatenate([title, rows])].mean(axis=0)))
    return out


class RecentStates:
    """The forward passes of the last few queries: the coverage check pools the question's word pieces from the
    retrieval pass instead of running the model on it a second time."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._states: OrderedDict[str, TokenStates] = OrderedDict()
        self._lock = threading.Lock()

    def vector(self, text: str, run: Callable[[Sequence[str]], list[TokenStates]]) -> np.ndarray:
        """The query's vector from one pass, whose states are kept."""
        states = run([text])[0]
        with self._lock:
            self._states[text] = states
            while len(self._states) > self.size:
                self._states.popitem(last=False)
        return states.vector()

    def states(self, texts: Sequence[str], run: Callable[[Sequence[str]], list[TokenStates]]) -> list[TokenStates]:
        """The states of each text: kept ones reused, the others run (together)."""
        with self._lock:
            found = [self._states.get(t) for t in texts]
        missing = [t for t, s in zip(texts, found, strict=True) if s is None]
        ran = iter(run(missing) if missing else [])
        return [s if s is not None else next(ran) for s in found]
