"""What a build must do: which files changed since the last build, what they hold, which are copies of another.

Files are compared by size and modification time first and hashed only when
those differ, so re-indexing an unchanged archive costs a stat per file.
Unchanged files keep their chunks; the others are parsed and chunked here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import Chunk, chunk_release
from .config import ChunkConfig, ParseLimits
from .corpus import check_size, corpus_files, file_sha256
from .dedupe import JACCARD, same_facts
from .embedding import Encoder
from .errors import CorpusError, Remedy
from .sandbox import FileJob, Parsed, parse_files, tokenizer_of
from .store.index import Index
from .store.manifest import FileRecord, Fit, Manifest, SkippedFile

__all__ = [
    "BuildJob",
    "BuildPlan",
    "BuildReport",
    "duplicate_groups",
    "files_match",
    "is_unchanged",
    "make_plan",
    "nothing_changed",
    "recorded_times",
]

Log = Callable[[str], None]


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
    skipped: dict[str, CorpusError] = field(default_factory=dict)  # with --skip-bad: source -> why it was left out
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

    def to_dict(self, word: Callable[[CorpusError], str] = str) -> dict[str, Any]:
        """The report as JSON-ready data, each skipped file's reason worded by ``word`` (a front end's wording)."""
        return {**asdict(replace(self, skipped={})), "skipped": {source: word(p) for source, p in self.skipped.items()}}


# ------------------------------------------------------------------- staleness


@dataclass
class _FileState:
    source: str
    path: Path
    size: int
    mtime_ns: int
    sha256: str | None = None  # None until read


Recorded = Mapping[str, FileRecord | SkippedFile]


def _scan(corpus: Path, previous: Recorded) -> list[_FileState]:
    """Stat every file; reuse the recorded hash when size and mtime are unchanged (fast re-index)."""
    states = []
    for path in corpus_files(corpus):
        try:
            st = path.stat()
        except FileNotFoundError:  # deleted since the listing: it is simply not part of the corpus any more
            continue
        source = path.relative_to(corpus).as_posix()
        state = _FileState(source, path, st.st_size, st.st_mtime_ns)
        old = previous.get(source)
        if old and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            state.sha256 = old.sha256
        states.append(state)
    return states


def recorded_times(corpus: Path, recorded: Recorded) -> dict[str, int] | None:
    """Each file's modification time now, if the corpus holds exactly the recorded files with the recorded
    contents (None otherwise). Files are compared by size and modification time first and hashed only when
    those differ; a file touched but not changed keeps its record but shows its new time here."""
    states = _scan(corpus, recorded)
    if {s.source for s in states} != set(recorded):
        return None
    for s in states:
        if s.sha256 is None:
            try:
                if file_sha256(s.path.read_bytes()) != recorded[s.source].sha256:
                    return None
            except FileNotFoundError:
                return None
    return {s.source: s.mtime_ns for s in states}


def files_match(corpus: Path, recorded: Recorded) -> bool:
    """Whether the corpus holds exactly the recorded files with the recorded contents (see :func:`recorded_times`)."""
    return recorded_times(corpus, recorded) is not None


# ----------------------------------------------------------------------- plan


@dataclass(frozen=True, kw_only=True)
class BuildJob:
    corpus: Path
    folder: Path
    cfg: ChunkConfig
    model: str  # name recorded in the manifest
    backend: str
    rebuild: bool
    skip_bad: bool
    index_type: str
    progress: bool | None
    log: Log
    t0: float
    files: int
    limits: ParseLimits = field(default_factory=ParseLimits)  # what reading one file may cost
    on_file: Callable[[Parsed], None] | None = None  # hears of each file read (progress, skips)
    on_progress: Callable[[int, int], None] | None = None  # hears (texts embedded, texts to embed) as embedding goes
    folders: dict[str, int] = field(default_factory=dict)  # the corpus's folder signature, taken before listing it


@dataclass
class BuildPlan:
    """What the new generation holds, before any embedding."""

    chunks: list[Chunk]
    files: dict[str, FileRecord]
    skipped: dict[str, SkippedFile]
    report: BuildReport


def nothing_changed(job: BuildJob, manifest: Manifest) -> Manifest | None:
    """If the corpus and every setting match ``manifest`` exactly (nothing to embed or write), the manifest as it
    should now read: the same, or with the new times of files touched but not changed. Writes nothing.

    ``manifest`` is that of an index that loaded and verified. Comparing the corpus costs a stat
    per file (see :func:`recorded_times`).
    """
    if manifest.compatible_with(job.model, job.backend, job.cfg, job.index_type) < Fit.ALL:
        return None
    # Files skipped as unreadable last time count as known while they stay the same (with --skip-bad).
    recorded: dict[str, FileRecord | SkippedFile] = {**(manifest.skipped if job.skip_bad else {}), **manifest.files}
    times = recorded_times(job.corpus, recorded)
    if times is None:
        return None
    current = with_times(manifest, times)
    return current if current.folders == job.folders else replace(current, folders=job.folders)


def with_times(manifest: Manifest, times: Mapping[str, int]) -> Manifest:
    """The manifest with these modification times in its file records (the same object when none differs)."""
    recorded: dict[str, FileRecord | SkippedFile] = {**manifest.skipped, **manifest.files}
    if all(times.get(source, r.mtime_ns) == r.mtime_ns for source, r in recorded.items()):
        return manifest
    return replace(
        manifest,
        files={s: replace(r, mtime_ns=times.get(s, r.mtime_ns)) for s, r in manifest.files.items()},
        skipped={s: replace(r, mtime_ns=times.get(s, r.mtime_ns)) for s, r in manifest.skipped.items()},
    )


def _read_changed(
    job: BuildJob, encoder: Encoder, old: Index | None, previous: Mapping[str, FileRecord], report: BuildReport
) -> tuple[dict[str, list[Chunk]], dict[str, FileRecord], dict[str, SkippedFile], dict[str, CorpusError]]:
    """Chunks and records per file: unchanged files keep their old chunks, the others are read in the sandbox
    (:mod:`qa.sandbox`: a file over its time or memory limit is reported like any unreadable file)."""
    old_chunks: dict[str, list[Chunk]] = {}
    for chunk in old.chunks if old and previous else []:
        old_chunks.setdefault(chunk.source, []).append(chunk)
    kept: dict[str, tuple[list[Chunk], str]] = {}  # source -> (chunks, signature) of unchanged files
    jobs: list[FileJob] = []
    errors: dict[str, CorpusError] = {}  # source -> why it cannot be read
    states: list[_FileState] = []
    for state in _scan(job.corpus, previous):
        try:
            check_size(state.source, state.size)
            data = state.path.read_bytes() if state.sha256 is None or state.source not in old_chunks else None
        except FileNotFoundError:  # deleted while indexing: left out, like a file removed before the run
            continue
        except CorpusError as exc:
            errors[state.source] = exc
            continue
        except OSError as exc:
            errors[state.source] = CorpusError(f"cannot read {state.source}: {(exc.strerror or 'error').lower()}")
            continue
        state.sha256 = state.sha256 or file_sha256(data or b"")
        prev = previous.get(state.source)
        unchanged = bool(prev and prev.sha256 == state.sha256)
        states.append(state)
        if unchanged and prev is not None and state.source in old_chunks:
            kept[state.source] = ([replace(c, also_in=()) for c in old_chunks[state.source]], prev.minhash)
            continue
        if not unchanged:  # (an unchanged copy that was a duplicate before is simply read again)
            (report.files_changed if prev else report.files_new).append(state.source)
        data = data if data is not None else state.path.read_bytes()
        jobs.append(FileJob(state.source, state.path.suffix, data, state.sha256, job.cfg))
    parsed = _parse_all(job, encoder, jobs)
    per_file: dict[str, list[Chunk]] = {}
    records: dict[str, FileRecord] = {}
    skipped: dict[str, SkippedFile] = {}
    for state in states:
        assert state.sha256 is not None
        if state.source in kept:
            chunks, signature = kept[state.source]
        else:
            result = parsed[state.source]
            if not state.path.exists():  # deleted while indexing: left out, like a file removed before the run
                continue
            if result.error or result.release is None:
                problem = result.problem or CorpusError(result.error or f"{state.source} could not be read")
                errors[state.source] = problem
                skipped[state.source] = SkippedFile(state.sha256, state.size, state.mtime_ns, reason=str(problem))
                continue
            chunks = result.chunks if result.chunks is not None else chunk_release(result.release, job.cfg, encoder.count_tokens)
            signature = result.signature or ""
        per_file[state.source] = chunks
        records[state.source] = FileRecord(
            sha256=state.sha256,
            size=state.size,
            mtime_ns=state.mtime_ns,
            doc_id=chunks[0].doc_id if chunks else None,
            chunks=len(chunks),
            minhash=signature,
            date=chunks[0].date if chunks else None,
        )
    return per_file, records, skipped, errors


def _parse_all(job: BuildJob, encoder: Encoder, jobs: list[FileJob]) -> dict[str, Parsed]:
    """Read the files in the sandbox while the model loads in a thread (both take seconds)."""
    if not jobs:
        return {}
    tokenizer = tokenizer_of(encoder)
    loading = threading.Thread(target=lambda: encoder.dim, daemon=True)
    loading.start()
    parsed = parse_files(jobs, job.limits, tokenizer, job.on_file)
    loading.join()
    return parsed


def make_plan(job: BuildJob, encoder: Encoder, old: Index | None, fit: Fit) -> BuildPlan:
    previous: Mapping[str, FileRecord] = old.manifest.files if old is not None and fit >= Fit.CHUNKS else {}
    report = BuildReport(files=job.files)
    per_file, records, skipped, errors = _read_changed(job, encoder, old, previous, report)
    if errors and job.skip_bad:
        for problem in errors.values():
            job.log(f"skipped: {problem.message}")
        report.skipped = errors
    elif errors:
        first = next(iter(errors.values()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CorpusError(
            f"{first.message}{more}; the index in {job.folder} was left unchanged",
            remedy=first.remedy or Remedy.SKIP_BAD_FILE,
            fields=first.fields,
            **first.context,
        )
    report.files_removed = sorted(set(previous) - set(records))
    # Syndicated copies: the same release from the ministry site and from a wire is indexed once;
    # its passages list every file it appeared in.
    texts = {source: "\n\n".join(c.text for c in file_chunks) for source, file_chunks in per_file.items()}
    citable = [s for s, rec in previous.items() if not rec.duplicate_of]
    duplicates = duplicate_groups(records, texts=texts, first=citable)
    chunks: list[Chunk] = []
    for source, file_chunks in per_file.items():
        if source in duplicates:
            records[source] = replace(records[source], duplicate_of=duplicates[source], chunks=0)
            continue
        copies = tuple(sorted(s for s, canonical in duplicates.items() if canonical == source))
        chunks.extend(replace(c, also_in=copies) if copies else c for c in file_chunks)
    if not chunks:  # every file was skipped or empty: an index of nothing cannot be searched
        raise CorpusError(
            f"no passage could be read from the {job.files} files in {job.corpus}; the index in {job.folder} was left unchanged",
            remedy=Remedy.SKIP_BAD_FILE if errors else Remedy.CHOOSE_CORPUS,
        )
    report.duplicates = {s: c for s, c in sorted(duplicates.items())}
    report.chunks = len(chunks)
    return BuildPlan(chunks, records, skipped if job.skip_bad else {}, report)


def is_unchanged(plan: BuildPlan, old: Index | None, fit: Fit) -> bool:
    """Same files, same chunks in the same order, same settings: nothing to embed or write."""
    r = plan.report
    return (
        old is not None
        and fit == Fit.ALL
        and not r.files_new
        and not r.files_changed
        and not r.files_removed
        and [c.key for c in plan.chunks] == [c.key for c in old.chunks]
        and [c.also_in for c in plan.chunks] == [c.also_in for c in old.chunks]
    )


def duplicate_groups(
    records: Mapping[str, FileRecord],
    threshold: float = JACCARD,
    texts: Mapping[str, str] | None = None,
    first: Collection[str] = (),
) -> dict[str, str]:
    """{copy: canonical} for exact (same cleaned text) and near duplicates (MinHash LSH, Jaccard >= threshold)
    whose texts agree on their facts (:func:`qa.dedupe.same_facts`, when ``texts`` are given).

    The canonical copy is one indexed before (``first``: a later copy never takes over a release),
    then the first dated one in path order (a dateline-less wire copy should not hide the ministry's
    dated original), so the choice is stable across runs.
    """
    from datasketch import LeanMinHash, MinHashLSH

    order = sorted(records, key=lambda s: (s not in first, records[s].date is None, s))
    canonical_of: dict[str, str] = {}
    by_doc: dict[str | None, str] = {}
    for source in order:
        doc = records[source].doc_id
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
        values = np.frombuffer(bytes.fromhex(records[source].minhash), dtype="<u4")
        hashes[source] = LeanMinHash(seed=1, hashvalues=values, scheme="affine32")
        lsh.insert(source, hashes[source])
    for source in rest:
        if source in canonical_of:
            continue
        for other in sorted(lsh.query(hashes[source]), key=rank.__getitem__):
            if (
                rank[other] > rank[source]
                and other not in canonical_of
                and hashes[source].jaccard(hashes[other]) >= threshold
                and (texts is None or same_facts(texts[source], texts[other]))
            ):
                canonical_of[other] = source
    return canonical_of
