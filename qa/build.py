"""Building the index: :func:`build_index` is plan -> embed -> write; :func:`index_status`.

The plan (:mod:`qa.plan`) reads and chunks only files whose bytes changed,
indexes syndicated copies once, and fails before writing anything when a file
is unreadable (unless ``skip_bad``). Embedding covers only text no earlier
generation holds a vector for. Writing is :func:`qa.store.generation.write_generation`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import sandbox
from .chunking import Chunk, Sentences, sentence_table, sentences_at
from .config import DEFAULT_BACKEND, ChunkConfig, ParseLimits
from .corpus import SUPPORTED_SUFFIXES, corpus_files, folder_signature, links_outside, unsupported_files
from .embedding import Encoder, Engine, make_encoder, resolve_model
from .errors import ConfigError, CorpusError, StoreError
from .plan import BuildJob, BuildPlan, BuildReport, Log, files_match, is_unchanged, make_plan, nothing_changed
from .pooling import late_vectors, pooling_of, sentence_keys
from .sandbox import Parsed
from .store.checkpoint import Checkpoint
from .store.generation import Generation, clean_leftovers, open_for_writing, record_files, write_generation
from .store.index import Index, load_index
from .store.manifest import FileRecord, Fit, SkippedFile, has_manifest, read_manifest
from .store.vectors import VectorIndex

CHECKPOINT_EVERY = 1024  # texts (chunks, when sentences are pooled from their pass) embedded between two checkpoints

__all__ = ["IndexStatus", "build_index", "index_status"]


class IndexStatus(str, Enum):
    """An index compared with its corpus and the settings of whoever asks (equal to its value as a string)."""

    FRESH = "fresh"
    MISSING = "missing"
    STALE = "stale"  # the corpus changed since the build
    INCOMPATIBLE = "incompatible"  # another model, format or chunking
    OTHER_BACKEND = "other-backend"  # vectors from another encoder backend


def index_status(
    corpus: Path,
    folder: Path,
    model: str | None = None,
    cfg: ChunkConfig | None = None,
    backend: str | None = None,
    *,
    trust_folders: bool = False,
) -> IndexStatus:
    """How the index in ``folder`` stands against ``corpus`` and these settings -- reads no model.

    Every file is compared with the manifest (a stat each, a hash when size or time differ); with
    ``trust_folders``, an index whose recorded folder signature still matches the corpus's is fresh without
    looking at a file: a file added, removed, renamed or saved by replacing it is noticed, one rewritten in
    place only by the full check (`qa index`, the chat's start-up).
    """
    if not has_manifest(Path(folder)):
        return IndexStatus.MISSING
    try:
        manifest = read_manifest(Path(folder))
    except StoreError:
        return IndexStatus.INCOMPATIBLE
    fit = manifest.compatible_with(resolve_model(model)[0], backend or DEFAULT_BACKEND, cfg or ChunkConfig())
    if fit == Fit.OTHER_BACKEND:
        return IndexStatus.OTHER_BACKEND
    if fit < Fit.CHUNKS:
        return IndexStatus.INCOMPATIBLE
    if trust_folders and manifest.folders and folder_signature(Path(corpus)) == manifest.folders:
        return IndexStatus.FRESH
    # Files the last build skipped as unreadable (--skip-bad) stay skipped while they stay the same.
    recorded: dict[str, FileRecord | SkippedFile] = {**manifest.skipped, **manifest.files}
    try:
        return IndexStatus.FRESH if files_match(Path(corpus), recorded) else IndexStatus.STALE
    except CorpusError:
        return IndexStatus.FRESH  # nothing to compare against: keep answering from what is built


# ---------------------------------------------------------------------- embed


def _assemble(
    keys: list[str], fresh: dict[str, np.ndarray], old: list[tuple[dict[str, int], VectorIndex]], encoder: Encoder
) -> np.ndarray:
    """Row i = vector of keys[i], from the new embeddings or copied out of the previous index: its ``old`` (rows by
    key, vectors) pairs are looked in in order. A sentence that is a whole chunk has the chunk's key and vector, so
    either of the old index's tables can hold a text that was not embedded again."""
    dim = next(iter(fresh.values())).shape[0] if fresh else (old[0][1].d if old else encoder.dim)
    matrix = np.empty((len(keys), dim), dtype=np.float32)
    missing = np.array([k not in fresh for k in keys], dtype=bool)
    for i, key in enumerate(keys):
        if key in fresh:
            matrix[i] = fresh[key]
    for rows, index in old:
        wanted = [i for i in np.flatnonzero(missing) if keys[i] in rows]
        if wanted:
            matrix[wanted] = index.reconstruct_batch([rows[keys[i]] for i in wanted])
            missing[wanted] = False
    if missing.any():
        raise RuntimeError(f"{int(missing.sum())} texts have no vector: neither embedded nor in the previous index")
    return matrix


def _embed(
    job: BuildJob, plan: BuildPlan, encoder: Encoder, old: Index | None, fit: Fit, engine: Engine | None = None
) -> Generation:
    """Vectors for every chunk and every sentence: new text embedded, the rest copied from the previous generation
    or from the checkpoint of a build that was interrupted."""
    sentences: Sentences = sentence_table(plan.chunks, job.cfg)
    pooling = job.cfg.sentence_pooling
    s_keys = sentence_keys(plan.chunks, sentences, pooling)
    old_chunk_rows: dict[str, int] = {}
    old_sentence_rows: dict[str, int] = {}
    if old is not None and fit >= Fit.VECTORS:
        old_chunk_rows = {c.key: row for row, c in reversed(list(enumerate(old.chunks)))}
        old_chunks = list(old.chunks)
        old_table = sentences_at(old_chunks, old.sentence_table, old.manifest.chunk_config())  # as they were embedded
        old_keys = sentence_keys(old_chunks, old_table, pooling_of(old.manifest.chunking))
        old_sentence_rows = {k: row for row, k in reversed(list(enumerate(old_keys)))}
    checkpoint = Checkpoint(job.folder, encoder)
    fresh = checkpoint.load()
    if fresh:
        job.log(f"resuming an interrupted build: {len(fresh)} vectors already embedded")
    have = set(old_chunk_rows) | set(old_sentence_rows) | set(fresh)
    sample = [c.embed_text for c in plan.chunks if c.key not in have][:1000] or [c.embed_text for c in plan.chunks[:1000]]
    encoder.prepare(sample)
    if pooling == "separate":
        past_window = 0
        _embed_texts(job, _new_texts(plan.chunks, sentences, have), encoder, engine, checkpoint, fresh)
    elif engine is not None:
        raise ConfigError(
            f"{engine.name} embeds texts on their own, not sentences pooled from their paragraph's pass",
            setting="the sentence pooling (to 'separate')",
        )
    else:
        past_window = _embed_pooled(job, plan, sentences, s_keys, have, encoder, checkpoint, fresh)
    past = [(old_chunk_rows, old.vectors), (old_sentence_rows, old.sentences)] if old is not None else []
    report = plan.report
    report.embedded = sum(1 for k in dict.fromkeys(c.key for c in plan.chunks) if k in fresh and k not in old_chunk_rows)
    report.reused = len(plan.chunks) - sum(1 for c in plan.chunks if c.key in fresh and c.key not in old_chunk_rows)
    report.removed = len(set(old_chunk_rows) - {c.key for c in plan.chunks}) if old else 0
    if past_window:
        job.log(f"{past_window} sentences lay past the model's window in their paragraph's pass: encoded on their own")
    return Generation(
        chunks=plan.chunks,
        files=plan.files,
        skipped=plan.skipped,
        model=job.model,
        backend=job.backend,
        chunking=job.cfg,
        index_type=job.index_type,
        folders=job.folders,
        sentence_table=sentences.table,
        vectors=_assemble([c.key for c in plan.chunks], fresh, past, encoder),
        sentence_vectors=_assemble(s_keys, fresh, past[::-1], encoder),
    )


def _new_texts(chunks: list[Chunk], sentences: Sentences, have: set[str]) -> dict[str, str]:
    """Content key -> text of every chunk and sentence with no vector yet; a sentence that is its whole chunk has
    the chunk's key, so it is embedded once."""
    out = {c.key: c.embed_text for c in chunks if c.key not in have}
    out.update((k, t) for k, t in zip(sentences.keys, sentences.texts, strict=True) if k not in have and k not in out)
    return out


def _embed_texts(
    job: BuildJob,
    texts: dict[str, str],
    encoder: Encoder,
    engine: Engine | None,
    checkpoint: Checkpoint,
    fresh: dict[str, np.ndarray],
) -> None:
    """Embed texts on their own, shortest first (batches of similar lengths), into ``fresh``; a checkpoint every
    CHECKPOINT_EVERY texts. Locally one encoder call per checkpoint; an engine streams results back as they come."""
    keys = sorted(texts, key=lambda k: len(texts[k]))
    if len(keys) > 64:
        where = f" on {engine.name}" if engine else ""
        job.log(f"embedding {len(keys)} new texts (chunks and their sentences) with {encoder.name}{where}")
    show = job.progress if job.progress is not None else sys.stderr.isatty()
    ordered = [texts[k] for k in keys]
    if engine is not None:
        pieces = engine.embed(encoder, ordered, CHECKPOINT_EVERY)
    else:
        step = CHECKPOINT_EVERY
        pieces = (
            (np.arange(start, min(start + step, len(keys))), encoder.encode(ordered[start : start + step]))
            for start in range(0, len(keys), step)
        )
    unsaved: dict[str, np.ndarray] = {}
    done = 0
    with tqdm(total=len(keys), unit="text", desc="embedding", disable=not show, delay=0 if job.progress else 3) as bar:
        for positions, vectors in pieces:
            unsaved.update(zip((keys[p] for p in positions), vectors, strict=True))
            bar.update(len(positions))
            done += len(positions)
            if job.on_progress is not None:
                job.on_progress(done, len(keys))
            if len(unsaved) >= CHECKPOINT_EVERY:
                checkpoint.save(unsaved)
                fresh.update(unsaved)
                unsaved = {}
    checkpoint.save(unsaved)
    fresh.update(unsaved)


def _embed_pooled(
    job: BuildJob,
    plan: BuildPlan,
    sentences: Sentences,
    s_keys: list[str],
    have: set[str],
    encoder: Encoder,
    checkpoint: Checkpoint,
    fresh: dict[str, np.ndarray],
) -> int:
    """Chunks and sentence vectors pooled from their pass, CHECKPOINT_EVERY chunks between checkpoints, into
    ``fresh``; returns how many sentences lay past the model's window (encoded on their own)."""
    bounds = np.searchsorted(sentences.table[:, 0], np.arange(len(plan.chunks) + 1))
    todo: dict[str, int] = {}  # chunk key -> a row holding it, for every chunk with something left to embed
    for row, chunk in enumerate(plan.chunks):
        if chunk.key not in have or any(s_keys[s] not in have for s in range(bounds[row], bounds[row + 1])):
            todo.setdefault(chunk.key, row)
    rows = sorted(todo.values(), key=lambda r: -len(plan.chunks[r].embed_text))  # similar lengths batch together
    if len(rows) > 64:
        job.log(f"embedding {len(rows)} new chunks and their sentences with {encoder.name}")
    show = job.progress if job.progress is not None else sys.stderr.isatty()
    work = _Work(plan.chunks, sentences, s_keys, bounds, job.cfg.sentence_pooling, have)
    step = min(64, CHECKPOINT_EVERY)  # chunks per encoder call: batches of similar lengths, a progress bar that moves
    unsaved: dict[str, np.ndarray] = {}
    with tqdm(total=len(rows), unit="chunk", desc="embedding", disable=not show, delay=0 if job.progress else 3) as bar:
        for start in range(0, len(rows), step):
            unsaved.update(work.embed(encoder, rows[start : start + step]))
            bar.update(len(rows[start : start + step]))
            if job.on_progress is not None:  # a chunk and its sentences come from one pass: counted as one text
                job.on_progress(min(start + step, len(rows)), len(rows))
            if (start + step) % CHECKPOINT_EVERY < step or start + step >= len(rows):
                checkpoint.save(unsaved)
                fresh.update(unsaved)
                unsaved = {}
    return work.past_window


@dataclass
class _Work:
    """What :func:`_embed` embeds, one slice of chunks at a time."""

    chunks: list[Chunk]
    sentences: Sentences
    keys: list[str]  # sentence keys
    bounds: np.ndarray  # chunk row r owns sentence rows bounds[r]:bounds[r + 1]
    pooling: str
    have: set[str]
    past_window: int = 0  # sentences encoded on their own because their paragraph's pass did not reach them

    def embed(self, encoder: Encoder, rows: list[int]) -> dict[str, np.ndarray]:
        """Vectors of these chunks and of their sentences: pooled from one pass per chunk, or each encoded on its own."""
        out: dict[str, np.ndarray] = {}
        alone: dict[str, str] = {}  # key -> text to encode on its own
        if self.pooling == "separate":
            for row in rows:
                alone[self.chunks[row].key] = self.chunks[row].embed_text
                alone.update((self.keys[s], self.sentences.texts[s]) for s in range(self.bounds[row], self.bounds[row + 1]))
        else:
            for row, states in zip(rows, encoder.token_states([self.chunks[r].embed_text for r in rows]), strict=True):
                out[self.chunks[row].key] = states.vector()
                owned = range(self.bounds[row], self.bounds[row + 1])
                spans = [(int(self.sentences.table[s, 1]), int(self.sentences.table[s, 2])) for s in owned]
                for s, vector in zip(owned, late_vectors(self.chunks[row], states, spans, self.pooling), strict=True):
                    if vector is None:
                        alone[self.keys[s]] = self.sentences.texts[s]
                    else:
                        out[self.keys[s]] = vector
            self.past_window += len(alone)
        alone = {k: t for k, t in alone.items() if k not in self.have}
        if alone:
            out.update(zip(alone, encoder.encode(list(alone.values())), strict=True))
        return out


# ---------------------------------------------------------------------- build


def _previous(job: BuildJob) -> Index | None:
    """The current index, fully checked (checksums too): a damaged one is reported and rebuilt, never called up to date."""
    if job.rebuild:
        return None
    try:
        return load_index(job.folder, verify=True)
    except StoreError as exc:
        if has_manifest(job.folder):
            job.log(f"the existing index cannot be used ({exc}); rebuilding it from {job.corpus}")
        return None


def _build_locked(job: BuildJob, encoder: Encoder | None, model: str | None, engine: Engine | None) -> BuildReport:
    try:
        clean_leftovers(job.folder, read_manifest(job.folder))
    except StoreError:
        clean_leftovers(job.folder, None)
    old = _previous(job)
    current = nothing_changed(job, old.manifest) if old is not None else None
    if old is not None and current is not None:
        if current is not old.manifest:
            record_files(job.folder, current)  # touched, not changed: remember the new times and folder signature
        n = old.manifest.chunk_count
        return BuildReport(reused=n, chunks=n, files=job.files, seconds=time.perf_counter() - job.t0)
    sandbox.shared(job.limits).start()  # readers start while the model loads
    encoder = encoder or make_encoder(model, job.backend)
    fit = old.manifest.compatible_with(job.model, job.backend, job.cfg, job.index_type) if old else Fit.NONE
    if old is not None and old.manifest.backend != job.backend and old.manifest.model == job.model:
        job.log(
            f"the index was embedded with {old.manifest.backend}; re-embedding with {job.backend} "
            "(vectors of different backends are never mixed)"
        )
    plan = make_plan(job, encoder, old, fit)
    if is_unchanged(plan, old, fit) and old is not None:
        plan.report.reused = len(plan.chunks)
        touched = any(plan.files[s].mtime_ns != old.manifest.files[s].mtime_ns for s in plan.files)
        if touched or old.manifest.folders != job.folders:
            record_files(job.folder, replace(old.manifest, files=plan.files, folders=job.folders))  # touched, not changed
        plan.report.seconds = time.perf_counter() - job.t0
        return plan.report
    generation = _embed(job, plan, encoder, old, fit, engine)
    write_generation(job.folder, generation, old.manifest if old else None)
    Checkpoint(job.folder, encoder).remove()
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
    cfg: ChunkConfig | None = None,
    rebuild: bool = False,
    skip_bad: bool = False,
    index_type: str = "auto",
    progress: bool | None = None,
    lock_wait: float = 600.0,
    log: Log = lambda msg: print(msg, file=sys.stderr),
    limits: ParseLimits | None = None,
    on_file: Callable[[Parsed], None] | None = None,
    engine: Engine | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> BuildReport:
    """Bring the index in ``folder`` up to date with ``corpus``, embedding only text it has not seen.

    Nothing is written unless every file reads cleanly: a bad file raises
    :class:`CorpusError` naming it, and the previous index keeps working.
    Files are read in the sandbox under ``limits`` (:mod:`qa.sandbox`); ``on_file`` hears of each
    file read, with its error if it could not be (what a background build shows as progress); ``on_progress(done, total)``
    hears how many of the new texts (chunks and sentences) are embedded. ``engine`` embeds the new texts
    elsewhere (e.g. :class:`qa.distributed.RayEngine` on a Ray cluster); the index written is the same.
    """
    t0 = time.perf_counter()
    corpus, folder = Path(corpus), Path(folder)
    if folder.resolve() == corpus.resolve() or folder.resolve().is_relative_to(corpus.resolve()):
        raise StoreError(
            f"the index folder {folder} is inside the corpus folder {corpus}: its files would be read as releases; "
            "choose an index folder outside the corpus"
        )
    folders = folder_signature(corpus, time.time_ns()) if corpus.is_dir() else {}  # before listing: later changes differ
    files = corpus_files(corpus)  # fails early and clearly on a missing or empty corpus
    unsupported = unsupported_files(corpus)
    if unsupported:
        shown = ", ".join(unsupported[:10]) + (f" and {len(unsupported) - 10} more" if len(unsupported) > 10 else "")
        log(
            f"warning: skipping {len(unsupported)} file(s) of unsupported type: {shown} "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)})"
        )
    outside = links_outside(corpus)
    if outside:
        log(
            f"warning: skipping {len(outside)} link(s) to files outside the corpus: {', '.join(outside[:10])} "
            "(copy the file into the corpus to index it)"
        )
    lock = open_for_writing(folder, lock_wait)
    job = BuildJob(
        corpus=corpus,
        folder=folder,
        cfg=cfg or ChunkConfig(),
        model=encoder.name if encoder else resolve_model(model)[0],
        backend=encoder.backend if encoder else (backend or DEFAULT_BACKEND),
        rebuild=rebuild,
        skip_bad=skip_bad,
        index_type=index_type,
        progress=progress,
        log=log,
        t0=t0,
        files=len(files),
        limits=limits or ParseLimits(),
        on_file=on_file,
        on_progress=on_progress,
        folders=folders,
    )
    try:
        return _build_locked(job, encoder, model, engine)
    except OSError as exc:  # a write the generation's own clean-up does not cover (e.g. the touched manifest)
        raise StoreError(
            f"{exc.filename or folder}: {exc.strerror or exc}; check that the index folder is writable, "
            "the disk has space and the release files are readable; the previous index was left as it "
            "was"
        ) from None
    finally:
        lock.release()
