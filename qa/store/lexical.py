"""Words on disk and in memory: every bm25s detail -- BM25 over chunks, over whole releases, IDF, checks.

:class:`LexicalIndex` is one bm25s model (postings saved as plain arrays, no pickles). :class:`ReleaseIndex` is the
release-level one: BM25 of a question against each chunk's *whole release*, so every passage shares its release's
score. It is written with every generation; an index written before it existed builds it from the stored chunks
when it opens (no re-embedding). Nothing outside :mod:`qa.store` imports bm25s.
"""

from __future__ import annotations

import functools
import math
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..chunking import Chunk

__all__ = ["BM25_PARAMS", "LexicalIndex", "ReleaseIndex", "bm25_tokenize", "content_stems", "function_words"]

RELEASE_OF = "release_of.npy"  # in a release index's folder: each chunk's release number, row by row
BM25_PARAMS = {"k1": 0.9, "b": 0.4}  # chosen on SQuAD with benchmarks/tune_sentences.py (docs/evaluation.md)

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern
_STEMMER: Any = None
_STOPWORDS: frozenset[str] = frozenset()


@functools.cache
def function_words() -> frozenset[str]:
    """English function words: bm25s's longer stop-word list (NLTK's), wider than the one BM25 leaves out."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


def bm25_tokenize(texts: list[str]) -> list[list[str]]:
    """English stop words out, Snowball stems in: the same for indexing and for queries.

    bm25s's own tokenizer does the same per call with more overhead; this runs on
    every query (question, candidate sentences, titles), so it is kept lean.
    """
    global _STEMMER, _STOPWORDS
    if _STEMMER is None:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        _STOPWORDS = frozenset(STOPWORDS_EN)
        _STEMMER = Stemmer.Stemmer("english")
    out = []
    for text in texts:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]
        out.append(_STEMMER.stemWords(words) if words else [])
    return out


_INTERROGATIVES = frozenset("what which who whom whose when where why how".split())


def content_stems(text: str) -> list[str]:
    """The stems of a question's words without its question words ("what", "which", "how"): they name no topic,
    and in a folder of a few releases that never use them they would count as the question's rarest words."""
    return bm25_tokenize([" ".join(w for w in _TOKEN.findall(text.lower()) if w not in _INTERROGATIVES)])[0]


class LexicalIndex:
    """BM25 over a list of texts; scores come back one per text, in the order they were indexed."""

    def __init__(self, model: Any) -> None:
        self._model = model

    @classmethod
    def build(cls, texts: Sequence[str], params: dict[str, float] | None = None) -> LexicalIndex:
        """``params`` None: bm25s's own defaults (what a user of the raw library gets)."""
        import bm25s

        model = bm25s.BM25(**(params or {}))
        model.index(_with_sorted_vocabulary(bm25_tokenize(list(texts))), show_progress=False)
        return cls(model)

    @classmethod
    def read(cls, path: Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(path), mmap=True))  # postings memory-mapped: opening reads only the vocabulary

    def write(self, path: Path) -> list[Path]:
        """Save into the folder ``path`` (replaced); returns the files written, for the caller to fsync."""
        shutil.rmtree(path, ignore_errors=True)
        self._model.save(str(path), show_progress=False)
        return sorted(path.iterdir())

    @property
    def documents(self) -> int:
        return int(self._model.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """One BM25 score per indexed text (zeros when the query has no indexable word)."""
        tokens = bm25_tokenize([query])[0]
        if not tokens:
            return np.zeros(self.documents, dtype=np.float32)
        return np.asarray(self._model.get_scores(tokens), dtype=np.float32)

    def idf(self, stem: str) -> float:
        """BM25's IDF of a stem in this corpus; a stem the corpus never uses gets the highest."""
        scores = self._model.scores
        column = self._model.vocab_dict.get(stem)
        df = 0 if column is None else int(scores["indptr"][column + 1] - scores["indptr"][column])
        n = int(scores["num_docs"])
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def knows(self, stem: str) -> bool:
        """Whether any indexed text uses this stem."""
        return stem in self._model.vocab_dict

    def problem(self, n: int) -> str | None:
        """Whether the BM25 arrays fit together and fit ``n`` texts (else a query would index out of range)."""
        model = self._model
        scores = getattr(model, "scores", None)
        if not isinstance(scores, dict) or not {"data", "indices", "indptr", "num_docs"} <= scores.keys():
            return "BM25 arrays are missing"
        data, indices, indptr = (np.asarray(scores[k]) for k in ("data", "indices", "indptr"))
        vocab = getattr(model, "vocab_dict", None)
        if int(scores["num_docs"]) != n:
            return f"BM25 counts {int(scores['num_docs'])} documents, the index has {n}"
        if not isinstance(vocab, dict):
            return "BM25 vocabulary is missing"
        words = {w: i for w, i in vocab.items() if w != ""}  # bm25s adds "" past the last postings list
        if len(indptr) != len(words) + 1 or not all(isinstance(i, int) for i in words.values()):
            return f"BM25 vocabulary has {len(words)} words for {len(indptr) - 1} postings lists"
        ids = np.fromiter(words.values(), dtype=np.int64, count=len(words))
        if len(ids) and (ids.min() < 0 or ids.max() >= len(indptr) - 1 or len(np.unique(ids)) != len(ids)):
            return "BM25 vocabulary points outside its postings"
        if len(indptr) and (
            indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices) or len(data) != len(indices)
        ):
            return "BM25 postings are inconsistent"
        if len(indices) and (indices.min() < 0 or indices.max() >= n):
            return "BM25 postings point past the last document"
        return None


def _with_sorted_vocabulary(tokens: list[list[str]]) -> tuple[list[list[int]], dict[str, int]] | list[list[str]]:
    """Token ids numbered in sorted word order: bm25s numbers words in the order of a Python set, which changes from
    process to process, so two builds of the same texts would write different files (and checksums)."""
    words = sorted({word for text in tokens for word in text})
    if not words:
        return tokens  # no word at all: bm25s's own path (and its message)
    vocabulary = {word: i for i, word in enumerate(words)}
    return [[vocabulary[word] for word in text] for text in tokens], vocabulary


def release_order(sources: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The releases in order of first appearance, and each chunk's release number (from every chunk's source)."""
    order: dict[str, int] = {}
    release_of = np.fromiter((order.setdefault(s, len(order)) for s in sources), dtype=np.int64, count=len(sources))
    return list(order), release_of


class ReleaseIndex:
    """BM25 of a question against each chunk's whole release.

    A passage that gives the detail asked for rarely repeats the names, place
    and event the rest of its release states; this credits it with them.
    """

    def __init__(self, lexical: LexicalIndex, sources: Callable[[], Sequence[str]]) -> None:
        self.lexical = lexical
        self._sources = sources  # every chunk's source, in row order: read when the first question needs it
        self._release_of: np.ndarray | None = None

    @property
    def release_of(self) -> np.ndarray:
        """Each chunk's release number."""
        if self._release_of is None:
            self._release_of = release_order(self._sources())[1]
        return self._release_of

    @classmethod
    def build(cls, chunks: Sequence[Chunk]) -> ReleaseIndex:
        sources = [c.source for c in chunks]
        releases, release_of = release_order(sources)
        texts: list[list[str]] = [[] for _ in releases]
        for chunk, release in zip(chunks, release_of, strict=True):
            texts[release].append(chunk.text)
        index = cls(LexicalIndex.build(["\n".join(t) for t in texts], BM25_PARAMS), lambda: sources)
        index._release_of = release_of
        return index

    @classmethod
    def read(cls, path: Path, sources: Callable[[], Sequence[str]]) -> ReleaseIndex:
        index = cls(LexicalIndex.read(path), sources)
        if (path / RELEASE_OF).exists():
            index._release_of = np.load(path / RELEASE_OF, allow_pickle=False)
        return index

    def write(self, path: Path) -> list[Path]:
        """Save into the folder ``path``: the postings and each chunk's release number; returns the files written."""
        files = self.lexical.write(path)
        with open(path / RELEASE_OF, "wb") as fh:
            np.save(fh, self.release_of.astype(np.int32), allow_pickle=False)
        return [*files, path / RELEASE_OF]

    def problem(self, releases: int, chunks: int) -> str | None:
        """Whether the postings fit ``releases`` release files and the stored release numbers ``chunks`` chunks."""
        stored = self._release_of
        if stored is not None and not (
            stored.ndim == 1 and len(stored) == chunks and (not chunks or (stored.min() >= 0 and stored.max() < releases))
        ):
            return "release numbers do not match the chunks"
        return self.lexical.problem(releases)

    def scores(self, query: str) -> np.ndarray:
        """One score per chunk: its release's."""
        return self.lexical.scores(query)[self.release_of]
