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
This module never loads a model or reads a release: building is :mod:`qa.build`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .chunking import Chunk, ChunkConfig, bm25_tokenize, embed_text
from .errors import StoreError

__all__ = ["FORMAT_VERSION", "MANIFEST", "BM25_PARAMS", "Fit", "Manifest", "Index", "Generation", "load_index",
           "read_manifest", "write_manifest", "write_generation", "manifest_stamp", "acquire_lock", "make_faiss",
           "reconstruct"]

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
BM25_PARAMS = {"k1": 0.9, "b": 0.4}  # chosen on SQuAD with benchmarks/tune_sentences.py (README "Retrieval quality")
FLAT_MAX = 50_000  # vectors per FAISS index (chunks, sentences) searched exactly; IVF above (README "Speed and scale")
IVF_PROBE_SHARE = 1 / 16  # share of IVF lists searched: recall@10 >= 0.97 on the benchmark (README "Scale")
REBUILD = "rebuild with `python -m qa index --rebuild`"


class Fit(IntEnum):
    """How much of an existing index a build with other settings can keep (ordered: more is better)."""

    NONE = 0  # another model: nothing
    OTHER_BACKEND = 1  # same model and chunking, vectors from another encoder backend: nothing (never mixed)
    VECTORS = 2  # same model and backend, other chunking: vectors of unchanged text
    CHUNKS = 3  # same chunking too, other BM25 parameters or FAISS type: chunks and vectors
    ALL = 4  # everything matches


@dataclass
class Manifest:
    """``manifest.json``: what was built, how, from which files, and which generation's files are live."""

    model: str
    dim: int
    backend: str
    chunking: dict[str, Any]
    files: dict[str, dict[str, Any]]  # source -> sha256, size, mtime_ns, doc_id, chunks, minhash, date[, duplicate_of]
    live: dict[str, str]  # vectors, chunks, bm25, sentences, sentence_table -> file name
    chunk_count: int
    generation: int = 0
    index_type: str = "flat"
    bm25: dict[str, float] | None = None
    sentence_count: int = 0
    built_at: str = ""
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)  # unreadable files left out with --skip-bad
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_json(cls, data: Any, path: Path) -> "Manifest":
        required = {"format_version", "model", "chunking", "files", "chunk_count", "live"}
        if not isinstance(data, dict) or not required <= data.keys():
            raise StoreError(f"{path} is missing fields {sorted(required - set(data or {}))}: {REBUILD}")
        if data["format_version"] != FORMAT_VERSION:
            raise StoreError(f"{path} has format version {data['format_version']}, this release reads {FORMAT_VERSION}: {REBUILD}")
        model = data["model"]
        known = {f.name for f in fields(cls)} - {"model", "dim", "backend"}
        try:
            return cls(model=model["name"], dim=model["dim"], backend=model.get("backend", "torch"),
                       **{k: v for k, v in data.items() if k in known})
        except (KeyError, TypeError) as exc:
            raise StoreError(f"{path} is not a manifest this release reads ({exc}): {REBUILD}") from None

    def to_json(self) -> dict[str, Any]:
        return {"format_version": self.format_version, "generation": self.generation,
                "model": {"name": self.model, "dim": self.dim, "backend": self.backend}, "chunking": self.chunking,
                "index_type": self.index_type, "bm25": self.bm25, "sentence_count": self.sentence_count,
                "chunk_count": self.chunk_count, "built_at": self.built_at, "files": self.files,
                "skipped": self.skipped, "live": self.live}

    def compatible_with(self, model: str, backend: str, chunking: ChunkConfig, index_type: str = "auto") -> Fit:
        """The one comparison of this index with the settings of a build or a session."""
        if self.model != model:
            return Fit.NONE
        if self.backend != backend:
            return Fit.OTHER_BACKEND if self.chunking == chunking.to_dict() else Fit.NONE
        if self.chunking != chunking.to_dict():
            return Fit.VECTORS
        if self.bm25 != BM25_PARAMS or index_type not in ("auto", self.index_type):
            return Fit.CHUNKS
        return Fit.ALL

    def chunk_config(self) -> ChunkConfig:
        return ChunkConfig(**self.chunking)


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
        return [(s_row, int(self.sentence_table[s_row, 1]), int(self.sentence_table[s_row, 2]))
                for s_row in self.sentence_rows(chunk_row)]

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


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_path(path.parent)


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


def read_manifest(folder: Path) -> Manifest:
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"no index in {folder}: run `python -m qa index --index {folder}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON ({exc}): {REBUILD}") from None
    return Manifest.from_json(data, path)


def write_manifest(folder: Path, manifest: Manifest) -> None:
    _write_atomic(folder / MANIFEST, json.dumps(manifest.to_json(), indent=1, ensure_ascii=False).encode())


def manifest_stamp(folder: Path) -> tuple[int, int] | None:
    """(mtime, size) of the manifest: changes whenever a writer switches in a new generation."""
    try:
        st = (Path(folder) / MANIFEST).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


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


def load_index(folder: Path) -> Index:
    """Load and cross-check an index; any inconsistency is a :class:`StoreError` that says how to fix it."""
    folder = Path(folder)
    for attempt in range(3):  # a writer may switch generations between reading the manifest and the files
        manifest = read_manifest(folder)
        try:
            vectors, chunks, bm25, sentences, sentence_table = _read_files(folder, manifest)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise StoreError(f"index files listed in {folder / MANIFEST} are missing: {REBUILD}") from None
            time.sleep(0.2)
        except (RuntimeError, ValueError, TypeError, KeyError, OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"index in {folder} is corrupt ({type(exc).__name__}: {str(exc)[:120]}): {REBUILD}") from None
    n = manifest.chunk_count
    if not (vectors.ntotal == len(chunks) == n):
        raise StoreError(f"index in {folder} is inconsistent: {vectors.ntotal} vectors, {len(chunks)} chunks, "
                         f"manifest says {n}: {REBUILD}")
    if vectors.d != manifest.dim:
        raise StoreError(f"index in {folder} has {vectors.d}-d vectors but the manifest says {manifest.dim}: rebuild it")
    if sentences.ntotal != len(sentence_table) or (len(sentence_table) and sentence_table[:, 0].max() >= n):
        raise StoreError(f"sentence vectors in {folder} do not match the chunks: {REBUILD}")
    for faiss_index in (vectors, sentences):
        _tune(faiss_index)
    return Index(folder, manifest, chunks, vectors, bm25, sentences, sentence_table)


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
            raise StoreError(f"{folder} is still locked by another `qa index` after {wait:.0f}s: try again when it ends") from None
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
        _fsync_path(f)


def write_generation(folder: Path, gen: Generation, previous: Manifest | None) -> Manifest:
    """Write every file of a new generation, fsync it, then switch the manifest to it: the atomic step."""
    import faiss

    number = (previous.generation + 1) if previous else _next_free_generation(folder)
    live = {"vectors": f"vectors.{number}.faiss", "chunks": f"chunks.{number}.jsonl", "bm25": f"bm25.{number}",
            "sentences": f"sentences.{number}.faiss", "sentence_table": f"sentences.{number}.npy"}
    index = make_faiss(gen.vectors, gen.index_type)
    for name, built in (("vectors", index), ("sentences", make_faiss(gen.sentence_vectors, gen.index_type))):
        faiss.write_index(built, str(folder / live[name]))
        _fsync_path(folder / live[name])
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
    manifest = Manifest(
        model=gen.model, dim=int(gen.vectors.shape[1]), backend=gen.backend, chunking=gen.chunking.to_dict(),
        files=gen.files, skipped=gen.skipped, live=live, chunk_count=len(gen.chunks), generation=number,
        index_type="hnsw" if hasattr(index, "hnsw") else "ivf" if hasattr(index, "nprobe") else "flat",
        bm25=dict(BM25_PARAMS), sentence_count=int(len(gen.sentence_table)),
        built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    write_manifest(folder, manifest)  # the switch: readers see the new generation from here on
    _remove_old_generations(folder, keep={number, number - 1})
    return manifest


def _next_free_generation(folder: Path) -> int:
    gens = [int(p.name.split(".")[1]) for p in folder.glob("*.*") if p.name.split(".")[1:2] and p.name.split(".")[1].isdigit()]
    return max(gens, default=0) + 1


def _remove_old_generations(folder: Path, keep: Iterable[int]) -> None:
    """Keep the live generation and the one before it (a reader may still be opening it)."""
    keep = set(keep)
    for path in folder.iterdir():
        parts = path.name.split(".")
        if len(parts) >= 2 and parts[0] in {"vectors", "chunks", "bm25", "sentences"} and parts[1].isdigit() and int(parts[1]) not in keep:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
