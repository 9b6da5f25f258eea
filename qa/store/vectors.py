"""Vectors on disk and in memory: every FAISS detail (index type, training, search-time tuning, filtered search).

A :class:`VectorIndex` is what the rest of the package sees of a FAISS index: rows, their dimension, search
(optionally restricted to some rows) and the stored vectors by row. Nothing outside :mod:`qa.store` imports faiss.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError

__all__ = ["FLAT_MAX", "IVF_PROBE_SHARE", "VectorIndex"]

FLAT_MAX = 50_000  # vectors per FAISS index (chunks, sentences) searched exactly; IVF above (docs/scale.md)
IVF_PROBE_SHARE = 1 / 16  # share of IVF lists searched: recall@10 >= 0.97 on the benchmark (docs/scale.md)


class VectorIndex:
    """An inner-product index over unit vectors; row i is the vector of item i (a chunk or a sentence)."""

    def __init__(self, faiss_index: Any) -> None:
        self._index = faiss_index
        _tune(faiss_index)

    # ------------------------------------------------------------- making one

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto") -> VectorIndex:
        """Exact inner-product search up to FLAT_MAX vectors; IVF (or HNSW on request) above.

        IVF is the default ANN because every index update rebuilds the FAISS file
        from the vectors: IVF trains and adds a million vectors in about a minute
        here, HNSW takes tens of minutes (docs/scale.md).
        """
        import faiss

        n, dim = vectors.shape
        index: Any
        if kind == "auto":
            kind = "ivf" if n > FLAT_MAX else "flat"
        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
        elif kind == "ivf":
            nlist = max(1, min(int(4 * np.sqrt(max(n, 1))), n // 39 or 1))
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = vectors[np.random.default_rng(0).permutation(n)[: max(nlist * 64, 10_000)]] if n else vectors
            index.train(sample)
        else:
            raise StoreError(f"unknown index type {kind!r}: use auto, flat, ivf or hnsw")
        if n:
            index.add(vectors)
        return cls(index)

    @classmethod
    def read(cls, path: Path) -> VectorIndex:
        """Memory-mapped: opening costs no reading, and the pages a search touches are shared with the file cache
        (generation files never change once written; a truncated file is still refused here)."""
        import faiss

        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC))

    def write(self, path: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    # ------------------------------------------------------------- reading it

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    @property
    def d(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return self.ntotal

    @property
    def kind(self) -> str:
        """flat, ivf or hnsw (what the manifest records)."""
        return "hnsw" if hasattr(self._index, "hnsw") else "ivf" if hasattr(self._index, "nprobe") else "flat"

    def size_bytes(self) -> int:
        """Bytes of the index as written to disk."""
        import faiss

        return len(faiss.serialize_index(self._index))

    def search(self, queries: np.ndarray, k: int, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the ``k`` nearest rows per query (rows -1 past the end), restricted to ``ids`` when
        given: filters apply before ranking, not after."""
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(queries) == 1:
            with _one_thread(faiss):
                return self._search(queries, k, ids)
        return self._search(queries, k, ids)

    def _search(self, queries: np.ndarray, k: int, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        params: Any
        if ids is None:
            return self._index.search(queries, k)
        selector = faiss.IDSelectorBatch(ids.astype(np.int64))
        index = self._index
        if hasattr(index, "hnsw"):
            params = faiss.SearchParametersHNSW(sel=selector, efSearch=index.hnsw.efSearch)
        elif hasattr(index, "nprobe"):
            params = faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe)
        else:
            params = faiss.SearchParameters(sel=selector)
        return index.search(queries, k, params=params)

    def reconstruct_batch(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """Stored vectors by row (fusion rescoring; incremental builds copy unchanged text's vectors)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.d), dtype=np.float32)
        return self._index.reconstruct_batch(rows)

    def reconstruct(self, row: int) -> np.ndarray:
        return self._index.reconstruct(int(row))

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        if n == 0:
            return np.zeros((0, self.d), dtype=np.float32)
        return self._index.reconstruct_n(start, n)


@contextmanager
def _one_thread(faiss: Any) -> Iterator[None]:
    """One question's search on the calling thread: faiss's flat search splits even one query over OpenMP threads,
    which then wait for busy cores (docs/scale.md: ~100x slower under load). OpenMP's thread count is per calling
    thread, so other threads' batch searches keep theirs."""
    threads = faiss.omp_get_max_threads()
    if threads == 1:
        yield
        return
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def _tune(index: Any) -> None:
    """Search-time settings, applied after building and after loading."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = 128
    if hasattr(index, "nprobe"):
        index.nprobe = max(8, int(index.nlist * IVF_PROBE_SHARE))
        index.make_direct_map()  # reconstruct() by row, for fusion and incremental reuse
