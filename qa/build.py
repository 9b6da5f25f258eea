"""Building the index: :func:`build_index` is plan -> embed -> write; :func:`index_status`.

The plan (:mod:`qa.plan`) reads and chunks only files whose bytes changed,
indexes syndicated copies once, and fails before writing anything when a file
is unreadable (unless ``skip_bad``). Embedding covers only text no earlier
generation holds a vector for. Writing is :func:`qa.index.write_generation`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import ChunkConfig, Sentences, sentence_table
from .config import DEFAULT_BACKEND
from .corpus import SUPPORTED_SUFFIXES, corpus_files, links_outside, unsupported_files
from .embedding import Encoder, make_encoder, resolve_model
from .errors import CorpusError, StoreError
from .index import (Generation, Index, acquire_lock, check_index_folder, clean_leftovers, load_index, reconstruct,
                    write_generation)
from .manifest import MANIFEST, Fit, read_manifest, write_manifest
from .plan import (BuildJob, BuildPlan, BuildReport, Log, duplicate_groups, files_match, is_unchanged, make_plan,
                   nothing_changed)

__all__ = ["BuildReport", "IndexStatus", "build_index", "index_status", "duplicate_groups"]


class IndexStatus(str, Enum):
    """An index compared with its corpus and the settings of whoever asks (equal to its value as a string)."""

    FRESH = "fresh"
    MISSING = "missing"
    STALE = "stale"  # the corpus changed since the build
    INCOMPATIBLE = "incompatible"  # another model, format or chunking
    OTHER_BACKEND = "other-backend"  # vectors from another encoder backend


def index_status(corpus: Path, folder: Path, model: str | None = None, cfg: ChunkConfig = ChunkConfig(),
                 backend: str | None = None) -> IndexStatus:
    """How the index in ``folder`` stands against ``corpus`` and these settings -- reads no model."""
    if not (Path(folder) / MANIFEST).exists():
        return IndexStatus.MISSING
    try:
        manifest = read_manifest(Path(folder))
    except StoreError:
        return IndexStatus.INCOMPATIBLE
    fit = manifest.compatible_with(resolve_model(model)[0], backend or DEFAULT_BACKEND, cfg)
    if fit == Fit.OTHER_BACKEND:
        return IndexStatus.OTHER_BACKEND
    if fit < Fit.CHUNKS:
        return IndexStatus.INCOMPATIBLE
    # Files the last build skipped as unreadable (--skip-bad) stay skipped while they stay the same.
    recorded = {**manifest.skipped, **manifest.files}
    try:
        return IndexStatus.FRESH if files_match(Path(corpus), recorded) else IndexStatus.STALE
    except CorpusError:
        return IndexStatus.FRESH  # nothing to compare against: keep answering from what is built


# ---------------------------------------------------------------------- embed


def _assemble(keys: list[str], fresh: dict[str, np.ndarray], old_rows: dict[str, int], old_index: Any,
              encoder: Encoder) -> np.ndarray:
    """Row i = vector of keys[i], from the new embeddings or copied out of the previous index."""
    reused = [k for k in dict.fromkeys(keys) if k not in fresh]
    old_vectors = reconstruct(old_index, [old_rows[k] for k in reused]) if reused else None
    position = {k: i for i, k in enumerate(reused)}
    dim = next(iter(fresh.values())).shape[0] if fresh else (old_vectors.shape[1] if old_vectors is not None else encoder.dim)
    matrix = np.empty((len(keys), dim), dtype=np.float32)
    for i, key in enumerate(keys):
        matrix[i] = fresh[key] if key in fresh else old_vectors[position[key]]  # type: ignore[index]
    return matrix


def _embed(job: BuildJob, plan: BuildPlan, encoder: Encoder, old: Index | None, fit: Fit) -> Generation:
    """Vectors for every chunk and every sentence (title as context): new text embedded, the rest copied."""
    chunk_texts = {c.key: c.embed_text for c in plan.chunks}
    sentences: Sentences = sentence_table(plan.chunks, job.cfg)
    sentence_texts = dict(zip(sentences.keys, sentences.texts))
    old_chunk_rows: dict[str, int] = {}
    old_sentence_rows: dict[str, int] = {}
    if old is not None and fit >= Fit.VECTORS:
        old_chunk_rows = {c.key: row for row, c in reversed(list(enumerate(old.chunks)))}
        old_keys = sentence_table(old.chunks, old.manifest.chunk_config()).keys  # as the old vectors were embedded
        old_sentence_rows = {k: row for row, k in reversed(list(enumerate(old_keys)))}
    missing = [k for k in chunk_texts if k not in old_chunk_rows] + [k for k in sentence_texts if k not in old_sentence_rows]
    missing = list(dict.fromkeys(missing))
    if len(missing) > 64:
        job.log(f"embedding {len(missing)} new chunks and sentences with {encoder.name}")
    show = job.progress if job.progress is not None else (len(missing) > 64 and sys.stderr.isatty())
    texts = [chunk_texts.get(k) or sentence_texts[k] for k in missing]
    encoder.prepare(texts[:1000] or list(chunk_texts.values())[:1000])
    fresh = dict(zip(missing, encoder.encode(texts, progress=show)))
    report = plan.report
    report.embedded = sum(1 for c in chunk_texts if c in fresh)
    report.reused = len(plan.chunks) - sum(1 for c in plan.chunks if c.key in fresh)
    report.removed = len(set(old_chunk_rows) - set(chunk_texts)) if old else 0
    return Generation(
        chunks=plan.chunks, files=plan.files, skipped=plan.skipped, model=job.model, backend=job.backend,
        chunking=job.cfg, index_type=job.index_type, sentence_table=sentences.table,
        vectors=_assemble([c.key for c in plan.chunks], fresh, old_chunk_rows, old.vectors if old else None, encoder),
        sentence_vectors=_assemble(sentences.keys, fresh, old_sentence_rows, old.sentences if old else None, encoder))


# ---------------------------------------------------------------------- build


def _previous(job: BuildJob) -> Index | None:
    """The current index, fully checked (checksums too): a damaged one is reported and rebuilt, never called up to date."""
    if job.rebuild:
        return None
    try:
        return load_index(job.folder, verify=True)
    except StoreError as exc:
        if (job.folder / MANIFEST).exists():
            job.log(f"the existing index cannot be used ({exc}); rebuilding it from {job.corpus}")
        return None


def _build_locked(job: BuildJob, encoder: Encoder | None, model: str | None) -> BuildReport:
    try:
        clean_leftovers(job.folder, read_manifest(job.folder))
    except StoreError:
        clean_leftovers(job.folder, None)
    old = _previous(job)
    if old is not None and nothing_changed(job, old.manifest) is not None:
        n = old.manifest.chunk_count
        return BuildReport(reused=n, chunks=n, files=job.files, seconds=time.perf_counter() - job.t0)
    encoder = encoder or make_encoder(model, job.backend)
    fit = old.manifest.compatible_with(job.model, job.backend, job.cfg, job.index_type) if old else Fit.NONE
    if old is not None and old.manifest.backend != job.backend and old.manifest.model == job.model:
        job.log(f"the index was embedded with {old.manifest.backend}; re-embedding with {job.backend} "
                "(vectors of different backends are never mixed)")
    plan = make_plan(job, encoder, old, fit)
    if is_unchanged(plan, old, fit) and old is not None:
        plan.report.reused = len(plan.chunks)
        if any(plan.files[s]["mtime_ns"] != old.manifest.files[s]["mtime_ns"] for s in plan.files):
            write_manifest(job.folder, replace(old.manifest, files=plan.files))  # touched, not changed
        plan.report.seconds = time.perf_counter() - job.t0
        return plan.report
    generation = _embed(job, plan, encoder, old, fit)
    write_generation(job.folder, generation, old.manifest if old else None)
    plan.report.written = True
    plan.report.seconds = time.perf_counter() - job.t0
    return plan.report


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
    log: Log = lambda msg: print(msg, file=sys.stderr),
) -> BuildReport:
    """Bring the index in ``folder`` up to date with ``corpus``, embedding only text it has not seen.

    Nothing is written unless every file reads cleanly: a bad file raises
    :class:`CorpusError` naming it, and the previous index keeps working.
    """
    t0 = time.perf_counter()
    corpus, folder = Path(corpus), Path(folder)
    files = corpus_files(corpus)  # fails early and clearly on a missing or empty corpus
    unsupported = unsupported_files(corpus)
    if unsupported:
        shown = ", ".join(unsupported[:10]) + (f" and {len(unsupported) - 10} more" if len(unsupported) > 10 else "")
        log(f"warning: skipping {len(unsupported)} file(s) of unsupported type: {shown} "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)})")
    outside = links_outside(corpus)
    if outside:
        log(f"warning: skipping {len(outside)} link(s) to files outside the corpus: {', '.join(outside[:10])} "
            "(copy the file into the corpus to index it)")
    check_index_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = acquire_lock(folder, lock_wait)
    except OSError as exc:
        raise StoreError(f"cannot write the index folder {folder} ({exc.strerror or exc}): make it writable or choose "
                         "another folder for the index; nothing was changed") from None
    job = BuildJob(corpus, folder, cfg, encoder.name if encoder else resolve_model(model)[0],
               encoder.backend if encoder else (backend or DEFAULT_BACKEND), rebuild, skip_bad, index_type, progress, log, t0,
               len(files))
    try:
        return _build_locked(job, encoder, model)
    except OSError as exc:  # a write the generation's own clean-up does not cover (e.g. the touched manifest)
        raise StoreError(f"{exc.filename or folder}: {exc.strerror or exc}; check that the index folder is writable, "
                         "the disk has space and the release files are readable; the previous index was left as it "
                         "was") from None
    finally:
        lock.release()
