"""A loaded index: the one object retrieval and answering read -- chunks, their vectors, BM25, sentences.

Reading is cross-checked (sizes against the manifest, row counts against each other) and writes nothing; writing
a generation is :mod:`qa.store.generation`, the manifest itself :mod:`qa.store.manifest`. This module never loads
a model or reads a release: building is :mod:`qa.build`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..chunking import Chunk
from ..errors import Remedy, StoreError
from .chunks import ChunkStore
from .lexical import LexicalIndex, ReleaseIndex
from .manifest import MANIFEST, Manifest, check_files, read_manifest
from .vectors import VectorIndex

__all__ = ["Index", "load_index"]


@dataclass
class Index:
    """A loaded index: chunks, their vectors and their BM25 postings; row i of each is chunk i."""

    folder: Path
    manifest: Manifest
    chunks: ChunkStore
    vectors: VectorIndex
    lexical: LexicalIndex
    sentences: VectorIndex  # one vector per sentence of every chunk
    sentence_table: np.ndarray  # (n, 3) int32: chunk row, start, end
    _releases: ReleaseIndex | None = field(default=None, repr=False)
    _sentence_starts: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.chunks)

    # ------------------------------------------------------------ sentences

    def sentence_rows(self, chunk_row: int) -> range:
        """Rows of ``sentences`` that belong to one chunk (the table is in chunk order)."""
        if self._sentence_starts is None:  # each chunk's first sentence row, found once for all chunks
            owners = np.ascontiguousarray(self.sentence_table[:, 0])
            self._sentence_starts = np.searchsorted(owners, np.arange(len(self.chunks) + 1), "left")
        return range(int(self._sentence_starts[chunk_row]), int(self._sentence_starts[chunk_row + 1]))

    def sentence_spans(self, chunk_row: int) -> list[tuple[int, int, int]]:
        """(sentence row, start, end) of each sentence of one chunk."""
        return [
            (s_row, int(self.sentence_table[s_row, 1]), int(self.sentence_table[s_row, 2]))
            for s_row in self.sentence_rows(chunk_row)
        ]

    def sentence_ids(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """Rows of the sentences whose chunk is allowed by a boolean chunk mask (None: every sentence)."""
        return None if allowed is None else np.flatnonzero(allowed[self.sentence_table[:, 0]])

    def sentence_owners(self, sentence_rows: np.ndarray) -> np.ndarray:
        """The chunk row of each sentence row."""
        return self.sentence_table[sentence_rows, 0]

    # -------------------------------------------------------------- lexical

    def bm25_scores(self, query: str) -> np.ndarray:
        """BM25 of every chunk for a query."""
        return self.lexical.scores(query)

    def bm25_idf(self, stem: str) -> float:
        """BM25's IDF of a stem in this corpus; a stem the corpus never uses gets the highest."""
        return self.lexical.idf(stem)

    def knows(self, stem: str) -> bool:
        """Whether any chunk uses this BM25 stem."""
        return self.lexical.knows(stem)

    @property
    def releases(self) -> ReleaseIndex:
        """BM25 over whole releases, one score per chunk; built from the chunks when an older index lacks it."""
        if self._releases is None:
            self._releases = ReleaseIndex.build(self.chunks)
        return self._releases

    def filter_mask(self, since: str | None = None, until: str | None = None, source: str | None = None) -> np.ndarray | None:
        """Chunks inside a date range and/or from a source (organisation, section or file path, case-insensitive);
        undated chunks are outside any date range. None when there is no filter."""
        return self.chunks.mask(since, until, source)

    def chunks_of(self, source: str) -> list[Chunk]:
        """The chunks of one release file, in row order."""
        return self.chunks.of_source(source)

    def release_scores(self, query: str) -> np.ndarray:
        """BM25 of each chunk's whole release for a query."""
        return self.releases.scores(query)


def load_index(folder: Path, verify: bool = False) -> Index:
    """Load and cross-check an index; any inconsistency is a :class:`StoreError` that says how to fix it.

    File sizes are always checked against the manifest; ``verify`` also checks every file's SHA-256
    (``qa index`` does, before it calls an index up to date). Nothing is written.
    """
    folder = Path(folder)
    for attempt in range(3):  # a writer may switch generations between reading the manifest and the files
        manifest = read_manifest(folder)
        try:
            check_files(folder, manifest, verify)
            index = _read_files(folder, manifest)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise StoreError(f"index files listed in {folder / MANIFEST} are missing", remedy=Remedy.REBUILD_INDEX) from None
            time.sleep(0.2)
        except (
            RuntimeError,
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            IndexError,
            OSError,
            RecursionError,
            sqlite3.Error,
        ) as exc:
            raise StoreError(
                f"index in {folder} is corrupt ({type(exc).__name__}: {str(exc)[:120]})", remedy=Remedy.REBUILD_INDEX
            ) from None
    problem = _problem(index)
    if problem:
        raise StoreError(f"index in {folder} {problem}", remedy=Remedy.REBUILD_INDEX)
    return index


def _read_files(folder: Path, manifest: Manifest) -> Index:
    live = manifest.live
    chunks = ChunkStore.read(folder / live["chunks"], manifest.chunk_config())
    releases = ReleaseIndex.read(folder / live["releases"], lambda: chunks.column("source")) if "releases" in live else None
    return Index(
        folder=folder,
        manifest=manifest,
        chunks=chunks,
        vectors=VectorIndex.read(folder / live["vectors"]),
        lexical=LexicalIndex.read(folder / live["bm25"]),
        sentences=VectorIndex.read(folder / live["sentences"]),
        sentence_table=np.load(folder / live["sentence_table"], allow_pickle=False),
        _releases=releases,
    )


def _problem(index: Index) -> str | None:
    """How the loaded parts disagree with each other or with the manifest (None: they fit)."""
    manifest, vectors, sentences, table = index.manifest, index.vectors, index.sentences, index.sentence_table
    n = manifest.chunk_count
    if not (vectors.ntotal == len(index.chunks) == n):
        return f"is inconsistent: {vectors.ntotal} vectors, {len(index.chunks)} chunks, manifest says {n}"
    if vectors.d != manifest.dim or sentences.d != manifest.dim:
        return f"has {vectors.d}-d vectors but the manifest says {manifest.dim}"
    table_ok = table.ndim == 2 and table.shape[1] == 3 and table.dtype.kind == "i" and sentences.ntotal == len(table)
    if not table_ok or (len(table) and (table[:, 0].min() < 0 or table[:, 0].max() >= n or np.any(np.diff(table[:, 0]) < 0))):
        return "has sentence vectors that do not match the chunks"
    releases = index._releases
    problem = index.lexical.problem(n) or (releases.problem(index.chunks.source_count(), n) if releases is not None else None)
    return f"is corrupt ({problem})" if problem else None
