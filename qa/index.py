"""Stage 4: the index on disk -- FAISS vectors, BM25, chunk store, manifest. Reading it, and writing one atomically.

Layout of an index folder (all plain files, no pickles)::

    manifest.json          format version, model, chunking, per-file hashes, which files below are live
    vectors.<gen>.faiss    FAISS inner-product index; row i is chunk i
    sentences.<gen>.faiss  one vector per sentence of every chunk (retrieval signal + the answering sentence)
    sentences.<gen>.npy    (n, 3) int32: chunk row, start, end of each sentence
    chunks.<gen>.jsonl     the chunk store; line i is chunk i
    bm25.<gen>/            bm25s index over the same chunks

Every update writes a new generation beside the old one, fsyncs it, and then
atomically replaces ``manifest.json``: a reader sees the old index or the new
one, never half of each. One writer at a time, enforced by a file lock.
This module never loads a model or reads a release: building is :mod:`qa.build`. The manifest itself
(schema, checksums, compatibility) is :mod:`qa.manifest`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import Chunk, ChunkConfig, bm25_tokenize, embed_text
from .errors import StoreError
from .manifest import (
    BM25_PARAMS,
    GENERATION_FILE,
    MANIFEST,
    REBUILD,
    Manifest,
    check_files,
    checksums,
    fsync_path,
    read_manifest,
    recorded_generation,
    write_manifest,
)

__all__ = [
    "PARTIAL",
    "Generation",
    "Index",
    "acquire_lock",
    "check_index_folder",
    "clean_leftovers",
    "load_index",
    "make_faiss",
    "reconstruct",
    "write_generation",
]

FLAT_MAX = 50_000  # vectors per FAISS index (chunks, sentences) searched exactly; IVF above (README "Speed and scale")
PARTIAL = "partial"  # vectors of a build that has not finished yet (qa.build.Checkpoint)
IVF_PROBE_SHARE = 1 / 16  # share of IVF lists searched: recall@10 >= 0.97 on the benchmark (README "Scale")


@dataclass
class Index:
    """A loaded index: chunks, their vectors and their BM25 postings."""

    folder: Path
    manifest: Manifest
    chunks: list[Chunk]
    vectors: Any  # faiss.Index
    bm25: Any  # bm25s.BM25
    sentences: Any  # faiss.Index over every sentence of every chunk
    sentence_table: np.ndarray  # (n, 3) int32: chunk row, start, end

    def sentence_rows(self, chunk_row: int) -> range:
        """Rows of ``sentences`` that belong to one chunk (the table is in chunk order)."""
        owners = self.sentence_table[:, 0]
        return range(int(np.searchsorted(owners, chunk_row, "left")), int(np.searchsorted(owners, chunk_row, "right")))

    def sentence_spans(self, chunk_row: int) -> list[tuple[int, int, int]]:
        """(sentence row, start, end) of each sentence of one chunk."""
        return [
            (s_row, int(self.sentence_table[s_row, 1]), int(self.sentence_table[s_row, 2]))
            for s_row in self.sentence_rows(chunk_row)
        ]

    def bm25_idf(self, stem: str) -> float:
        """BM25's IDF of a stem in this corpus; a stem the corpus never uses gets the highest."""
        scores = self.bm25.scores
        column = self.bm25.vocab_dict.get(stem)
        df = 0 if column is None else int(scores["indptr"][column + 1] - scores["indptr"][column])
        n = int(scores["num_docs"])
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def knows(self, stem: str) -> bool:
        """Whether any chunk uses this BM25 stem."""
        return stem in self.bm25.vocab_dict

    def bm25_scores(self, query: str) -> np.ndarray:
        tokens = bm25_tokenize([query])[0]
        if not tokens:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)

    def __len__(self) -> int:
        return len(self.chunks)


# ---------------------------------------------------------------------- files


def _chunk_to_row(chunk: Chunk) -> dict[str, Any]:
    row = asdict(chunk)
    del row["embed_text"]
    row["key"] = chunk.key
    return row


def _row_to_chunk(row: dict[str, Any], cfg: ChunkConfig) -> Chunk:
    row = dict(row)
    row.pop("key", None)
    row["also_in"] = tuple(row.get("also_in") or ())
    return Chunk(**row, embed_text=embed_text(row["title"], row["text"], cfg))


def _read_files(folder: Path, manifest: Manifest) -> tuple[Any, list[Chunk], Any, Any, np.ndarray]:
    import bm25s
    import faiss

    live = manifest.live
    vectors = faiss.read_index(str(folder / live["vectors"]))
    cfg = manifest.chunk_config()
    with open(folder / live["chunks"], encoding="utf-8") as fh:
        chunks = [_row_to_chunk(json.loads(line), cfg) for line in fh if line.strip()]
    bm25 = bm25s.BM25.load(str(folder / live["bm25"]), mmap=False)
    sentences = faiss.read_index(str(folder / live["sentences"]))
    sentence_table = np.load(folder / live["sentence_table"], allow_pickle=False)
    return vectors, chunks, bm25, sentences, sentence_table


def _bm25_problem(bm25: Any, n: int) -> str | None:
    """Whether the BM25 arrays fit together and fit ``n`` chunks (else a query would index out of range)."""
    scores = getattr(bm25, "scores", None)
    if not isinstance(scores, dict) or not {"data", "indices", "indptr", "num_docs"} <= scores.keys():
        return "BM25 arrays are missing"
    data, indices, indptr = (np.asarray(scores[k]) for k in ("data", "indices", "indptr"))
    vocab = getattr(bm25, "vocab_dict", None)
    if int(scores["num_docs"]) != n:
        return f"BM25 counts {int(scores['num_docs'])} documents, the index has {n} chunks"
    if not isinstance(vocab, dict):
        return "BM25 vocabulary is missing"
    words = {w: i for w, i in vocab.items() if w != ""}  # bm25s adds "" past the last postings list
    if len(indptr) != len(words) + 1 or not all(isinstance(i, int) for i in words.values()):
        return f"BM25 vocabulary has {len(words)} words for {len(indptr) - 1} postings lists"
    ids = np.fromiter(words.values(), dtype=np.int64, count=len(words))
    if len(ids) and (ids.min() < 0 or ids.max() >= len(indptr) - 1 or len(np.unique(ids)) != len(ids)):
        return "BM25 vocabulary points outside its postings"
    if len(indptr) and (indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices) or len(data) != len(indices)):
        return "BM25 postings are inconsistent"
    if len(indices) and (indices.min() < 0 or indices.max() >= n):
        return "BM25 postings point past the last chunk"
    return None


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
            vectors, chunks, bm25, sentences, sentence_table = _read_files(folder, manifest)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise StoreError(f"index files listed in {folder / MANIFEST} are missing: {REBUILD}") from None
            time.sleep(0.2)
        except (RuntimeError, ValueError, TypeError, KeyError, AttributeError, IndexError, OSError, RecursionError) as exc:
            raise StoreError(f"index in {folder} is corrupt ({type(exc).__name__}: {str(exc)[:120]}): {REBUILD}") from None
    n = manifest.chunk_count
    if not (vectors.ntotal == len(chunks) == n):
        raise StoreError(
            f"index in {folder} is inconsistent: {vectors.ntotal} vectors, {len(chunks)} chunks, manifest says {n}: {REBUILD}"
        )
    if vectors.d != manifest.dim or sentences.d != manifest.dim:
        raise StoreError(f"index in {folder} has {vectors.d}-d vectors but the manifest says {manifest.dim}: {REBUILD}")
    table_ok = (
        sentence_table.ndim == 2
        and sentence_table.shape[1] == 3
        and sentence_table.dtype.kind == "i"
        and sentences.ntotal == len(sentence_table)
    )
    if not table_ok or (
        len(sentence_table)
        and (sentence_table[:, 0].min() < 0 or sentence_table[:, 0].max() >= n or np.any(np.diff(sentence_table[:, 0]) < 0))
    ):
        raise StoreError(f"sentence vectors in {folder} do not match the chunks: {REBUILD}")
    problem = _bm25_problem(bm25, n)
    if problem:
        raise StoreError(f"index in {folder} is corrupt ({problem}): {REBUILD}")
    for faiss_index in (vectors, sentences):
        _tune(faiss_index)
    return Index(folder, manifest, chunks, vectors, bm25, sentences, sentence_table)


def _own_file(folder: Path, name: str) -> bool:
    return bool(GENERATION_FILE.fullmatch(name)) or name == PARTIAL


def check_index_folder(folder: Path) -> None:
    """Refuse a folder the index would share with other files: a build deletes only what it wrote, but must not
    settle in a folder of someone's documents, nor in a path that is a file."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"the index folder {folder} is a file: choose a folder for the index (it is created if missing)")
    if not folder.is_dir() or (folder / MANIFEST).exists():
        return
    foreign = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and not _own_file(folder, p.name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise StoreError(
            f"{folder} holds other files ({shown}) and no index: choose an empty or new folder for the index; nothing was changed"
        )


def clean_leftovers(folder: Path, manifest: Manifest | None) -> None:
    """Under the writer's lock: remove what a killed writer left -- temporary manifests and a half-written generation."""
    for tmp in folder.glob(f".{MANIFEST}.tmp-*"):
        tmp.unlink(missing_ok=True)
    if manifest is not None:
        _remove_files(folder, _names(manifest.generation + 1))


def _names(number: int) -> dict[str, str]:
    return {
        "vectors": f"vectors.{number}.faiss",
        "chunks": f"chunks.{number}.jsonl",
        "bm25": f"bm25.{number}",
        "sentences": f"sentences.{number}.faiss",
        "sentence_table": f"sentences.{number}.npy",
    }


def _remove_files(folder: Path, names: dict[str, str]) -> None:
    """Delete generation files by their exact names (never by a pattern over the folder)."""
    for name in names.values():
        if not GENERATION_FILE.fullmatch(name):
            continue
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def acquire_lock(folder: Path, wait: float) -> Any:
    """The writer's lock on an index folder (one `qa index` at a time); released by the caller."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"another `qa index` is writing {folder}; waiting up to {wait:.0f}s for it to finish", file=sys.stderr)
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise StoreError(
                f"{folder} is still locked by another `qa index` after {wait:.0f}s: try again when it ends"
            ) from None
    return lock


# ---------------------------------------------------------------------- FAISS


def make_faiss(vectors: np.ndarray, kind: str) -> Any:
    """Exact inner-product search up to FLAT_MAX vectors; IVF (or HNSW on request) above.

    IVF is the default ANN because every index update rebuilds the FAISS file
    from the vectors: IVF trains and adds a million vectors in about a minute
    here, HNSW takes tens of minutes (README "Scale").
    """
    import faiss

    n, dim = vectors.shape
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
    _tune(index)
    return index


def _tune(index: Any) -> None:
    """Search-time settings, applied after building and after loading."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = 128
    if hasattr(index, "nprobe"):
        index.nprobe = max(8, int(index.nlist * IVF_PROBE_SHARE))
        index.make_direct_map()  # reconstruct() by row, for fusion and incremental reuse


def reconstruct(index: Any, rows: list[int]) -> np.ndarray:
    """Stored vectors by row (incremental builds copy unchanged text's vectors instead of re-embedding it)."""
    if not rows:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_batch(np.asarray(rows, dtype=np.int64))


# ----------------------------------------------------------------- generation


@dataclass
class Generation:
    """Everything a new generation of the index holds; row i of each matrix belongs to chunk/sentence i."""

    chunks: list[Chunk]
    vectors: np.ndarray
    sentence_table: np.ndarray
    sentence_vectors: np.ndarray
    files: dict[str, dict[str, Any]]
    skipped: dict[str, dict[str, Any]]
    model: str
    backend: str
    chunking: ChunkConfig
    index_type: str = "auto"


def _write_bm25(folder: Path, name: str, chunks: list[Chunk]) -> None:
    import bm25s

    bm25 = bm25s.BM25(**BM25_PARAMS)
    bm25.index(bm25_tokenize([c.embed_text for c in chunks]), show_progress=False)
    bm25_dir = folder / name
    shutil.rmtree(bm25_dir, ignore_errors=True)
    bm25.save(str(bm25_dir), show_progress=False)
    for f in bm25_dir.iterdir():
        fsync_path(f)


def write_generation(folder: Path, gen: Generation, previous: Manifest | None) -> Manifest:
    """Write every file of a new generation, fsync it, then switch the manifest to it: the atomic step.

    A failure before the switch (full disk, read-only folder) removes the half-written files and raises a
    StoreError; the previous generation stays live. After the switch, the generation before the previous one
    is deleted by its recorded names: nothing else in the folder is ever touched.
    """
    recorded, unreadable = recorded_generation(folder) if previous is None else (previous.generation, {})
    number = recorded + 1
    live = _names(number)
    try:
        index = _write_files(folder, gen, live)
        manifest = Manifest(
            model=gen.model,
            dim=int(gen.vectors.shape[1]),
            backend=gen.backend,
            chunking=gen.chunking.to_dict(),
            files=gen.files,
            skipped=gen.skipped,
            live=live,
            chunk_count=len(gen.chunks),
            generation=number,
            index_type="hnsw" if hasattr(index, "hnsw") else "ivf" if hasattr(index, "nprobe") else "flat",
            bm25=dict(BM25_PARAMS),
            sentence_count=len(gen.sentence_table),
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            retired=dict(previous.live) if previous else {},
            checksums=checksums(folder, live),
        )
        write_manifest(folder, manifest)  # the switch: readers see the new generation from here on
    except (OSError, RuntimeError) as exc:  # faiss reports a failed write as RuntimeError
        _remove_files(folder, live)  # write_manifest removes its own temporary file
        reason = getattr(exc, "strerror", None) or str(exc).strip().splitlines()[-1][:160]
        raise StoreError(
            f"could not write the index in {folder} ({reason}): free disk space or make the folder "
            "writable, then index again; the previous index was left as it was"
        ) from None
    if previous is not None:
        _remove_files(folder, previous.retired)  # the one before the previous (a reader may still open the previous)
    # What a manifest this release could not load had recorded as its own (never the files just written).
    _remove_files(folder, {k: v for k, v in unreadable.items() if v not in live.values()})
    return manifest


def _write_files(folder: Path, gen: Generation, live: dict[str, str]) -> Any:
    import faiss

    index = make_faiss(gen.vectors, gen.index_type)
    for name, built in (("vectors", index), ("sentences", make_faiss(gen.sentence_vectors, gen.index_type))):
        faiss.write_index(built, str(folder / live[name]))
        fsync_path(folder / live[name])
    with open(folder / live["sentence_table"], "wb") as fh:
        np.save(fh, gen.sentence_table, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    with open(folder / live["chunks"], "w", encoding="utf-8") as fh:
        for chunk in gen.chunks:
            fh.write(json.dumps(_chunk_to_row(chunk), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    _write_bm25(folder, live["bm25"], gen.chunks)
    return index
