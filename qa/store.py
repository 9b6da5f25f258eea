"""Stage 4: the index on disk -- FAISS vectors, BM25, chunk store, manifest.

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
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .chunking import Chunk, ChunkConfig, chunk_release, sentence_spans
from .corpus import (SUPPORTED_SUFFIXES, check_size, corpus_files, file_sha256, minhash_signature, parse_bytes,
                     unsupported_files)
from .embedding import Encoder
from .errors import CorpusError, IndexError_

__all__ = ["BuildReport", "Index", "build_index", "load_index", "index_status", "bm25_tokenize", "FORMAT_VERSION"]

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
BM25_K1, BM25_B = 0.9, 0.4  # chosen on SQuAD with benchmarks/tune_sentences.py (README "Retrieval quality")
FLAT_MAX = 50_000  # vectors per FAISS index (chunks, sentences) searched exactly; IVF above (README "Speed and scale")


# ------------------------------------------------------------------ BM25 text

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern
_STEMMER: Any = None
_STOPWORDS: frozenset[str] = frozenset()


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


# ------------------------------------------------------------------ the index


@dataclass
class Index:
    """A loaded index: chunks, their vectors and their BM25 postings."""

    folder: Path
    manifest: dict[str, Any]
    chunks: list[Chunk]
    vectors: Any  # faiss.Index
    bm25: Any  # bm25s.BM25
    sentences: Any  # faiss.Index over every sentence of every chunk
    sentence_table: np.ndarray  # (n, 3) int32: chunk row, start, end

    def sentence_rows(self, chunk_row: int) -> range:
        """Rows of ``sentences`` that belong to one chunk (the table is in chunk order)."""
        owners = self.sentence_table[:, 0]
        return range(int(np.searchsorted(owners, chunk_row, "left")), int(np.searchsorted(owners, chunk_row, "right")))

    def bm25_idf(self, stem: str) -> float:
        """BM25's IDF of a stem in this corpus; a stem the corpus never uses gets the highest."""
        scores = self.bm25.scores
        column = self.bm25.vocab_dict.get(stem)
        df = 0 if column is None else int(scores["indptr"][column + 1] - scores["indptr"][column])
        n = int(scores["num_docs"])
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    @property
    def model(self) -> str:
        return str(self.manifest["model"]["name"])

    def __len__(self) -> int:
        return len(self.chunks)


@dataclass
class BuildReport:
    embedded: int = 0
    reused: int = 0
    removed: int = 0
    chunks: int = 0
    files: int = 0
    files_new: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)  # copy -> the file indexed in its place
    skipped: list[str] = field(default_factory=list)  # with --skip-bad: why each unreadable file was left out
    seconds: float = 0.0
    written: bool = False

    def summary(self) -> str:
        return (
            f"{self.chunks} chunks from {self.files} files: {self.embedded} embedded, {self.reused} reused, "
            f"{self.removed} removed ({len(self.files_new)} new, {len(self.files_changed)} changed, "
            f"{len(self.files_removed)} removed files"
            + (f", {len(self.duplicates)} duplicate copies indexed once" if self.duplicates else "")
            + (f", {len(self.skipped)} unreadable files skipped" if self.skipped else "")
            + f") in {self.seconds:.1f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -------------------------------------------------------------- atomic files


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
    embed = f"{row['title']}\n{row['text']}" if cfg.title_in_embedding and row["title"] else row["text"]
    return Chunk(**row, embed_text=embed)


# ---------------------------------------------------------------------- load


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexError_(f"no index in {folder}: run `python -m qa index --index {folder}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexError_(f"{path} is not valid JSON ({exc}): rebuild with `python -m qa index --rebuild`") from None
    required = {"format_version", "model", "chunking", "files", "chunk_count", "live"}
    if not isinstance(manifest, dict) or not required <= manifest.keys():
        raise IndexError_(f"{path} is missing fields {sorted(required - set(manifest or {}))}: rebuild with `python -m qa index --rebuild`")
    if manifest["format_version"] != FORMAT_VERSION:
        raise IndexError_(
            f"{path} has format version {manifest['format_version']}, this release reads {FORMAT_VERSION}: "
            "rebuild with `python -m qa index --rebuild`"
        )
    return manifest


def load_index(folder: Path) -> Index:
    """Load and cross-check an index; any inconsistency is an :class:`IndexError_` that says how to fix it."""
    import bm25s
    import faiss

    folder = Path(folder)
    for attempt in range(3):  # a writer may switch generations between reading the manifest and the files
        manifest = _read_manifest(folder)
        live = manifest["live"]
        try:
            vectors = faiss.read_index(str(folder / live["vectors"]))
            cfg = ChunkConfig(**manifest["chunking"])
            with open(folder / live["chunks"], encoding="utf-8") as fh:
                chunks = [_row_to_chunk(json.loads(line), cfg) for line in fh if line.strip()]
            bm25 = bm25s.BM25.load(str(folder / live["bm25"]), mmap=False)
            sentences = faiss.read_index(str(folder / live["sentences"]))
            sentence_table = np.load(folder / live["sentence_table"], allow_pickle=False)
            break
        except FileNotFoundError:
            if attempt == 2:
                raise IndexError_(f"index files listed in {folder / MANIFEST} are missing: rebuild with `python -m qa index --rebuild`") from None
            time.sleep(0.2)
        except (RuntimeError, ValueError, TypeError, KeyError, OSError, json.JSONDecodeError) as exc:
            raise IndexError_(f"index in {folder} is corrupt ({type(exc).__name__}: {str(exc)[:120]}): rebuild with `python -m qa index --rebuild`") from None
    n = manifest["chunk_count"]
    if not (vectors.ntotal == len(chunks) == n):
        raise IndexError_(
            f"index in {folder} is inconsistent: {vectors.ntotal} vectors, {len(chunks)} chunks, manifest says {n}: "
            "rebuild with `python -m qa index --rebuild`"
        )
    if vectors.d != manifest["model"]["dim"]:
        raise IndexError_(f"index in {folder} has {vectors.d}-d vectors but the manifest says {manifest['model']['dim']}: rebuild it")
    if sentences.ntotal != len(sentence_table) or (len(sentence_table) and sentence_table[:, 0].max() >= n):
        raise IndexError_(f"sentence vectors in {folder} do not match the chunks: rebuild with `python -m qa index --rebuild`")
    for faiss_index in (vectors, sentences):
        _tune(faiss_index)
    return Index(folder, manifest, chunks, vectors, bm25, sentences, sentence_table)


# ------------------------------------------------------------------- staleness


@dataclass
class _FileState:
    source: str
    path: Path
    size: int
    mtime_ns: int
    sha256: str | None = None  # None until read


def _scan(corpus: Path, previous: dict[str, Any]) -> list[_FileState]:
    """Stat every file; reuse the recorded hash when size and mtime are unchanged (fast re-index)."""
    states = []
    for path in corpus_files(corpus):
        st = path.stat()
        source = path.relative_to(corpus).as_posix()
        state = _FileState(source, path, st.st_size, st.st_mtime_ns)
        old = previous.get(source)
        if old and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            state.sha256 = old["sha256"]
        states.append(state)
    return states


def _files_match(corpus: Path, recorded: dict[str, Any]) -> bool:
    """Whether the corpus holds exactly the recorded files with the recorded contents.

    Files are compared by size and modification time first and hashed only when those
    differ; a file touched but not changed gets its new time written into ``recorded``.
    """
    states = _scan(corpus, recorded)
    if {s.source for s in states} != set(recorded):
        return False
    for s in states:
        if s.sha256 is None:
            if file_sha256(s.path.read_bytes()) != recorded[s.source]["sha256"]:
                return False
            recorded[s.source]["mtime_ns"] = s.mtime_ns
    return True


def _wanted_config(encoder: Any, model: str | None, cfg: ChunkConfig, backend: str | None = None) -> dict[str, Any]:
    from .embedding import resolve_model

    name = encoder.name if encoder else resolve_model(model)[0]
    backend = encoder.backend if encoder else (backend or os.environ.get("QA_BACKEND") or "torch")
    return {"model": name, "backend": backend, "chunking": cfg.to_dict()}


def index_status(corpus: Path, folder: Path, model: str | None = None, cfg: ChunkConfig = ChunkConfig(),
                 backend: str | None = None) -> str:
    """'fresh', 'missing', 'stale' (corpus changed), 'incompatible' (other model/format/chunking) or
    'other-backend' (vectors from another encoder backend) -- reads no model."""
    try:
        manifest = _read_manifest(Path(folder))
    except IndexError_ as exc:
        return "missing" if "no index" in str(exc) else "incompatible"
    wanted = _wanted_config(None, model, cfg, backend)
    if manifest["model"]["name"] != wanted["model"] or manifest["chunking"] != wanted["chunking"]:
        return "incompatible"
    if manifest["model"].get("backend", "torch") != wanted["backend"]:
        return "other-backend"
    # Files the last build skipped as unreadable (--skip-bad) stay skipped while they stay the same.
    recorded = {**manifest.get("skipped", {}), **manifest["files"]}
    try:
        return "fresh" if _files_match(Path(corpus), recorded) else "stale"
    except CorpusError:
        return "fresh"  # nothing to compare against: keep answering from what is built


# ---------------------------------------------------------------------- build


def _acquire_lock(folder: Path, wait: float) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(folder / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"another `qa index` is writing {folder}; waiting up to {wait:.0f}s for it to finish", file=sys.stderr)
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise IndexError_(f"{folder} is still locked by another `qa index` after {wait:.0f}s: try again when it ends") from None
    return lock


def _make_faiss(vectors: np.ndarray, kind: str) -> Any:
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
        raise IndexError_(f"unknown index type {kind!r}: use auto, flat, ivf or hnsw")
    if n:
        index.add(vectors)
    _tune(index)
    return index


IVF_PROBE_SHARE = 1 / 16  # share of IVF lists searched: recall@10 >= 0.97 on the benchmark (README "Scale")


def _tune(index: Any) -> None:
    """Search-time settings, applied after building and after loading."""
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = 128
    if hasattr(index, "nprobe"):
        index.nprobe = max(8, int(index.nlist * IVF_PROBE_SHARE))
        index.make_direct_map()  # reconstruct() by row, for fusion and incremental reuse


def _reconstruct(index: Any, rows: list[int]) -> np.ndarray:
    if not rows:
        return np.zeros((0, index.d), dtype=np.float32)
    return index.reconstruct_batch(np.asarray(rows, dtype=np.int64))


def build_index(
    corpus: Path,
    folder: Path,
    encoder: Encoder | None = None,
    *,
    model: str | None = None,
    backend: str | None = None,
    cfg: ChunkConfig = ChunkConfig(),
    rebuild: bool = False,
    skip_bad: bool = False,
    index_type: str = "auto",
    progress: bool | None = None,
    lock_wait: float = 600.0,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> BuildReport:
    """Bring the index in ``folder`` up to date with ``corpus``, embedding only text it has not seen.

    Nothing is written unless every file reads cleanly: a bad file raises
    :class:`CorpusError` naming it, and the previous index keeps working.
    """
    t0 = time.perf_counter()
    corpus, folder = Path(corpus), Path(folder)
    files = corpus_files(corpus)  # fails early and clearly on a missing or empty corpus
    skipped = unsupported_files(corpus)
    if skipped:
        shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
        log(f"warning: skipping {len(skipped)} file(s) of unsupported type: {shown} (supported: {', '.join(SUPPORTED_SUFFIXES)})")
    folder.mkdir(parents=True, exist_ok=True)
    lock = _acquire_lock(folder, lock_wait)
    try:
        return _build_locked(corpus, folder, files, encoder, model, backend, cfg, rebuild, index_type, progress, log, t0, skip_bad)
    finally:
        lock.release()


def _nothing_changed(corpus: Path, folder: Path, wanted: dict[str, Any], index_type: str, skip_bad: bool) -> dict[str, Any] | None:
    """The manifest, if the corpus and every setting match it exactly: then there is nothing to load or write.

    Re-indexing an unchanged archive costs a stat per file (see :func:`_files_match`).
    """
    try:
        manifest = _read_manifest(folder)
    except IndexError_:
        return None
    same = (manifest["model"]["name"] == wanted["model"] and manifest["model"].get("backend", "torch") == wanted["backend"]
            and manifest["chunking"] == wanted["chunking"] and manifest.get("bm25") == {"k1": BM25_K1, "b": BM25_B}
            and (index_type == "auto" or manifest.get("index_type") == index_type)
            and all((folder / name).exists() for name in manifest["live"].values()))
    if not same:
        return None
    # Files skipped as unreadable last time count as known while they stay the same (with --skip-bad).
    recorded = {**(manifest.get("skipped", {}) if skip_bad else {}), **manifest["files"]}
    times = {source: r["mtime_ns"] for source, r in recorded.items()}
    if not _files_match(corpus, recorded):
        return None
    manifest["touched"] = any(r["mtime_ns"] != times[source] for source, r in recorded.items())
    return manifest


def _build_locked(corpus, folder, files, encoder, model, backend, cfg, rebuild, index_type, progress, log, t0, skip_bad=False) -> BuildReport:  # type: ignore[no-untyped-def]
    if not rebuild:
        unchanged = _nothing_changed(corpus, folder, _wanted_config(encoder, model, cfg, backend), index_type, skip_bad)
        if unchanged is not None:
            if unchanged.pop("touched", False):
                _write_manifest(folder, unchanged)
            n = int(unchanged["chunk_count"])
            return BuildReport(reused=n, chunks=n, files=len(files), seconds=time.perf_counter() - t0)
    try:
        old = None if rebuild else load_index(folder)
    except IndexError_ as exc:
        if (folder / MANIFEST).exists():
            log(f"previous index unusable ({exc}); building a new one")
        old = None
    if encoder is None:
        from .embedding import make_encoder

        encoder = make_encoder(model, backend)
    wanted = _wanted_config(encoder, None, cfg)
    same_model = (old is not None and old.manifest["model"]["name"] == wanted["model"]
                  and old.manifest["model"].get("backend", "torch") == wanted["backend"])  # never mix backends' vectors
    same_chunking = same_model and old is not None and old.manifest["chunking"] == wanted["chunking"]
    previous_files: dict[str, Any] = old.manifest["files"] if same_chunking and old else {}

    report = BuildReport(files=len(files))
    states = _scan(corpus, previous_files)
    errors: list[str] = []
    old_chunks_by_source: dict[str, list[Chunk]] = {}
    if same_chunking and old:
        for chunk in old.chunks:
            old_chunks_by_source.setdefault(chunk.source, []).append(chunk)

    per_file: dict[str, list[Chunk]] = {}
    file_records: dict[str, Any] = {}
    skipped_records: dict[str, Any] = {}
    for state in states:
        data = None
        try:
            check_size(state.source, state.size)
        except CorpusError as exc:
            errors.append(str(exc))
            continue
        if state.sha256 is None:
            data = state.path.read_bytes()
            state.sha256 = file_sha256(data)
        prev = previous_files.get(state.source)
        unchanged_file = bool(prev and prev["sha256"] == state.sha256)
        if unchanged_file and state.source in old_chunks_by_source:
            file_chunks = [replace(c, also_in=()) for c in old_chunks_by_source[state.source]]
            signature = prev["minhash"]
        else:
            if not unchanged_file:  # (an unchanged copy that was a duplicate before is simply read again)
                (report.files_changed if prev else report.files_new).append(state.source)
            try:
                data = data if data is not None else state.path.read_bytes()
                release = parse_bytes(data, state.source, state.path.suffix, state.sha256)
                file_chunks = chunk_release(release, cfg, encoder.count_tokens if len(data) < 2_000_000 else _approx)
                signature = minhash_signature(release)
            except CorpusError as exc:
                errors.append(str(exc))
                skipped_records[state.source] = {"sha256": state.sha256, "size": state.size, "mtime_ns": state.mtime_ns,
                                                 "reason": str(exc)}
                continue
        per_file[state.source] = file_chunks
        file_records[state.source] = {
            "sha256": state.sha256, "size": state.size, "mtime_ns": state.mtime_ns,
            "doc_id": file_chunks[0].doc_id if file_chunks else None, "chunks": len(file_chunks), "minhash": signature,
            "date": file_chunks[0].date if file_chunks else None,
        }
    if errors and skip_bad:
        for error in errors:
            log(f"skipped: {error}")
        report.skipped = errors
    elif errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CorpusError(f"{errors[0]}{more}; the index in {folder} was left unchanged "
                          "(fix the file, or pass --skip-bad to index the rest)")
    report.files_removed = sorted(set(previous_files) - set(file_records))

    # Syndicated copies: the same release from the ministry site and from a wire is indexed once;
    # its passages list every file it appeared in.
    duplicates = _duplicate_groups(file_records)
    chunks: list[Chunk] = []
    for source, file_chunks in per_file.items():
        if source in duplicates:
            file_records[source]["duplicate_of"] = duplicates[source]
            file_records[source]["chunks"] = 0
            continue
        copies = tuple(sorted(s for s, canonical in duplicates.items() if canonical == source))
        chunks.extend(replace(c, also_in=copies) if copies else c for c in file_chunks)
    report.duplicates = {s: c for s, c in sorted(duplicates.items())}
    report.chunks = len(chunks)

    unchanged = (
        same_chunking and old is not None and not report.files_new and not report.files_changed
        and not report.files_removed and [c.key for c in chunks] == [c.key for c in old.chunks]
        and [c.also_in for c in chunks] == [c.also_in for c in old.chunks]
        and (index_type == "auto" or old.manifest.get("index_type") == index_type)
        and old.manifest.get("bm25") == {"k1": BM25_K1, "b": BM25_B}
    )
    if unchanged and old is not None:
        report.reused = len(chunks)
        if any(file_records[s]["mtime_ns"] != previous_files[s]["mtime_ns"] for s in file_records):
            _write_manifest(folder, {**old.manifest, "files": file_records})  # touched, not changed
        report.seconds = time.perf_counter() - t0
        return report

    # What needs vectors: every chunk, and every sentence of every chunk (title as context).
    chunk_texts = {c.key: c.embed_text for c in chunks}
    sentences = _sentence_table(chunks, cfg)
    sentence_texts = {key: text for key, text in zip(sentences.keys, sentences.texts)}
    old_chunk_rows: dict[str, int] = {}
    old_sentence_rows: dict[str, int] = {}
    if same_model and old is not None:
        old_chunk_rows = {c.key: row for row, c in reversed(list(enumerate(old.chunks)))}
        old_cfg = ChunkConfig(**old.manifest["chunking"])  # keys as the old vectors were embedded
        old_sentence_rows = {k: row for row, k in reversed(list(enumerate(_sentence_table(old.chunks, old_cfg).keys)))}
    missing = [k for k in chunk_texts if k not in old_chunk_rows] + [k for k in sentence_texts if k not in old_sentence_rows]
    missing = list(dict.fromkeys(missing))
    if len(missing) > 64:
        log(f"embedding {len(missing)} new chunks and sentences with {encoder.name}")
    show = progress if progress is not None else (len(missing) > 64 and sys.stderr.isatty())
    if hasattr(encoder, "verify_texts"):  # an ONNX export, if it happens now, is verified on this corpus
        encoder.verify_texts = [chunk_texts.get(k) or sentence_texts[k] for k in missing[:1000]] or list(chunk_texts.values())[:1000]
    fresh = dict(zip(missing, encoder.encode([chunk_texts.get(k) or sentence_texts[k] for k in missing], progress=show)))
    matrix = _assemble([c.key for c in chunks], fresh, old_chunk_rows, old.vectors if old else None, encoder)
    sentence_matrix = _assemble(sentences.keys, fresh, old_sentence_rows, old.sentences if old else None, encoder)

    report.embedded = sum(1 for c in chunk_texts if c in fresh)
    report.reused = len(chunks) - sum(1 for c in chunks if c.key in fresh)
    report.removed = len(set(old_chunk_rows) - set(chunk_texts)) if old else 0
    file_records = {"files": file_records, "skipped": skipped_records if skip_bad else {}}
    _write_generation(folder, old, chunks, matrix, sentences.table, sentence_matrix, file_records, wanted, cfg, index_type)
    report.written = True
    report.seconds = time.perf_counter() - t0
    return report


def _duplicate_groups(records: dict[str, Any], threshold: float = 0.7) -> dict[str, str]:
    """{copy: canonical} for exact (same cleaned text) and near duplicates (MinHash LSH, Jaccard >= threshold).

    The canonical copy is the first dated one in path order (a dateline-less wire copy
    should not hide the ministry's dated original), so the choice is stable across runs.
    """
    from datasketch import LeanMinHash, MinHashLSH

    order = sorted(records, key=lambda s: (records[s].get("date") is None, s))
    canonical_of: dict[str, str] = {}
    by_doc: dict[str, str] = {}
    for source in order:
        doc = records[source]["doc_id"]
        if doc in by_doc:
            canonical_of[source] = by_doc[doc]
        else:
            by_doc[doc] = source
    rest = [s for s in order if s not in canonical_of]
    rank = {s: i for i, s in enumerate(order)}
    if len(rest) < 2:
        return canonical_of
    lsh = MinHashLSH(threshold=threshold, num_perm=64)
    hashes = {}
    for source in rest:
        values = np.frombuffer(bytes.fromhex(records[source]["minhash"]), dtype="<u4")
        hashes[source] = LeanMinHash(seed=1, hashvalues=values, scheme="affine32")
        lsh.insert(source, hashes[source])
    for source in rest:
        if source in canonical_of:
            continue
        for other in sorted(lsh.query(hashes[source]), key=rank.__getitem__):
            if rank[other] > rank[source] and other not in canonical_of and hashes[source].jaccard(hashes[other]) >= threshold:
                canonical_of[other] = source
    return canonical_of


@dataclass
class _Sentences:
    table: np.ndarray  # (n, 3) int32: chunk row, start, end (character offsets in the chunk text)
    keys: list[str]
    texts: list[str]


def _sentence_table(chunks: list[Chunk], cfg: ChunkConfig) -> _Sentences:
    rows, keys, texts = [], [], []
    for row, chunk in enumerate(chunks):
        for a, b in sentence_spans(chunk.text) or [(0, len(chunk.text))]:
            text = f"{chunk.title}\n{chunk.text[a:b]}" if cfg.title_in_embedding and chunk.title else chunk.text[a:b]
            rows.append((row, a, b))
            texts.append(text)
            keys.append(hashlib.sha256(text.encode()).hexdigest()[:32])
    return _Sentences(np.asarray(rows, dtype=np.int32).reshape(-1, 3), keys, texts)


def _assemble(keys: list[str], fresh: dict[str, np.ndarray], old_rows: dict[str, int], old_index: Any, encoder: Encoder) -> np.ndarray:
    """Row i = vector of keys[i], from the new embeddings or copied out of the previous index."""
    reused = [k for k in dict.fromkeys(keys) if k not in fresh]
    old_vectors = _reconstruct(old_index, [old_rows[k] for k in reused]) if reused else None
    position = {k: i for i, k in enumerate(reused)}
    dim = next(iter(fresh.values())).shape[0] if fresh else (old_vectors.shape[1] if old_vectors is not None else encoder.dim)
    matrix = np.empty((len(keys), dim), dtype=np.float32)
    for i, key in enumerate(keys):
        matrix[i] = fresh[key] if key in fresh else old_vectors[position[key]]  # type: ignore[index]
    return matrix


def _approx(text: str) -> int:
    from .chunking import approx_tokens

    return approx_tokens(text)


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    _write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode())


def _write_generation(folder, old, chunks, matrix, sentence_table, sentence_matrix, file_records, wanted, cfg, index_type) -> None:  # type: ignore[no-untyped-def]
    import bm25s
    import faiss

    gen = (old.manifest.get("generation", 0) + 1) if old else _next_free_generation(folder)
    live = {"vectors": f"vectors.{gen}.faiss", "chunks": f"chunks.{gen}.jsonl", "bm25": f"bm25.{gen}",
            "sentences": f"sentences.{gen}.faiss", "sentence_table": f"sentences.{gen}.npy"}

    index = _make_faiss(matrix, index_type)
    faiss.write_index(index, str(folder / live["vectors"]))
    _fsync_path(folder / live["vectors"])
    faiss.write_index(_make_faiss(sentence_matrix, index_type), str(folder / live["sentences"]))
    _fsync_path(folder / live["sentences"])
    with open(folder / live["sentence_table"], "wb") as fh:
        np.save(fh, sentence_table, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    with open(folder / live["chunks"], "w", encoding="utf-8") as fh:
        for chunk in chunks:
            fh.write(json.dumps(_chunk_to_row(chunk), ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
    bm25_texts = [c.embed_text if cfg.title_in_embedding else c.text for c in chunks]
    bm25.index(bm25_tokenize(bm25_texts), show_progress=False)
    bm25_dir = folder / live["bm25"]
    shutil.rmtree(bm25_dir, ignore_errors=True)
    bm25.save(str(bm25_dir), show_progress=False)
    for f in bm25_dir.iterdir():
        _fsync_path(f)

    manifest = {
        "format_version": FORMAT_VERSION,
        "generation": gen,
        "model": {"name": wanted["model"], "dim": int(matrix.shape[1]), "backend": wanted["backend"]},
        "chunking": wanted["chunking"],
        "index_type": "hnsw" if hasattr(index, "hnsw") else "ivf" if hasattr(index, "nprobe") else "flat",
        "bm25": {"k1": BM25_K1, "b": BM25_B},
        "sentence_count": int(len(sentence_table)),
        "chunk_count": len(chunks),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": file_records["files"],
        "skipped": file_records["skipped"],
        "live": live,
    }
    _write_manifest(folder, manifest)  # the switch: readers see the new generation from here on
    _remove_old_generations(folder, keep={gen, gen - 1})


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
