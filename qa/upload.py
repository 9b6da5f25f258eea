"""Adding uploaded release files: each file checked on its own, saved under its own name, indexed in one update.

The one upload path (the chat's Library tab and :meth:`QA.add_releases
<qa.session.QA.add_releases>` both use :func:`add_files`):

1. check each file on its own (type, size, readable text) -- one bad file
   never rejects the others;
2. answer "already indexed" for content the index holds under any name (same
   bytes, or the same cleaned text in other bytes);
3. save the rest under their own names, each name reserved atomically
   (``O_CREAT | O_EXCL``): a different release under a name in use is
   rejected, never written over and never saved as a numbered copy;
4. index them in one update; if it fails, every file of this upload is
   taken back out and the previous index keeps working.

Uploads and removals of one corpus are serialised (one lock, across processes), so two
people uploading at once each get the truth about their own file, and clean-up after a
failure removes only a file this upload wrote and that is still the same file (device,
inode, size and time), never a file by its name alone.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .config import ChunkConfig, ParseLimits
from .corpus import SUPPORTED_SUFFIXES, Release, file_sha256, safe_filename
from .dedupe import near_copies, same_facts
from .errors import CorpusError, QAError, chat_message
from .plan import BuildReport
from .sandbox import FileJob, Parsed, parse_files
from .store.index import Index
from .trash import corpus_lock, trash_folder

__all__ = ["MAX_UPLOAD_BYTES", "MAX_UPLOAD_FILES", "UploadResult", "add_files"]

MAX_UPLOAD_FILES = 20
MAX_UPLOAD_BYTES = 5_000_000


@dataclass
class UploadResult:
    """What happened to one uploaded file: ``status`` is "added", "already indexed" or "rejected"."""

    name: str
    status: str
    reason: str = ""
    title: str = ""
    source: str = ""  # the corpus file it was saved as, or the indexed file it duplicates
    passages: int = 0


class Target(Protocol):
    """What an upload needs from a session (:class:`~qa.session.QA` is one)."""

    corpus: Path

    def ensure_index(self) -> Index: ...

    def update(self, **kwargs: object) -> BuildReport: ...


@dataclass
class _Known:
    """What the index already holds, by file hash and by release text, plus what this upload accepted so far."""

    hashes: dict[str, str]  # sha256 of every indexed file -> that file
    docs: dict[str, tuple[str, str]]  # doc_id -> (file, title)
    titles: dict[str, str]  # file -> title
    batch: dict[str, str] = field(default_factory=dict)  # sha256 -> name, for files accepted in this upload
    signatures: dict[str, str] = field(default_factory=dict)  # indexed (citable) file -> MinHash signature
    texts: dict[str, str] = field(default_factory=dict)  # indexed file -> its text

    @classmethod
    def of(cls, index: Index) -> _Known:
        docs = {c.doc_id: (c.source, c.title) for c in index.chunks}
        titles = {c.source: c.title for c in index.chunks}
        texts: dict[str, list[str]] = {}
        for c in index.chunks:
            texts.setdefault(c.source, []).append(c.text)
        for source, rec in index.manifest.files.items():
            if rec.duplicate_of:
                titles[source] = titles.get(rec.duplicate_of, source)
        hashes = {rec.sha256: source for source, rec in index.manifest.files.items() if rec.sha256}
        signatures = {s: rec.minhash for s, rec in index.manifest.files.items() if rec.minhash and s in texts}
        return cls(hashes, docs, titles, signatures=signatures, texts={s: "\n\n".join(t) for s, t in texts.items()})

    def same_release(self, release: Release, signature: str) -> str | None:
        """The indexed file this release would be merged into (a near copy that says the same), if any."""
        text = "\n\n".join(release.paragraphs)
        return next((s for s in near_copies(signature, self.signatures) if same_facts(text, self.texts[s])), None)


def _batch(files: Sequence[str | Path], names: Sequence[str] | None) -> list[tuple[Path, str]]:
    paths = [Path(f) for f in files]
    if not paths:
        raise CorpusError(f"no files chosen: pick one or more releases ({', '.join(SUPPORTED_SUFFIXES)})")
    if len(paths) > MAX_UPLOAD_FILES:
        raise CorpusError(f"{len(paths)} files at once; the limit is {MAX_UPLOAD_FILES}: upload them in smaller groups")
    shown = list(names) if names else [p.name for p in paths]
    if len(shown) != len(paths):
        raise CorpusError(f"{len(paths)} files but {len(shown)} names: give one name per file, or none")
    return [(p, Path(str(n).replace("\\", "/")).name or "file") for p, n in zip(paths, shown, strict=True)]


def _unreadable(problem: QAError, display: str) -> str:
    """A parse error as a reason about this file, in the chat's words (the file's name is already on the line)."""
    reason = chat_message(problem)
    for prefix in (f"{display}: ", f"{display} "):
        reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
    return reason[3:] if reason.startswith("is ") else reason


def _first_look(path: Path, display: str, known: _Known) -> tuple[UploadResult, bytes | None]:
    """Type, size and known bytes: what can be said before reading the release; bytes back for a file to read."""
    result = UploadResult(display, "rejected")
    suffix = Path(display).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        result.reason = f"not a release file type we read; upload {', '.join(SUPPORTED_SUFFIXES)} files"
        return result, None
    try:
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            result.reason = f"{size / 1e6:.1f} MB is over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit per release: split it"
            return result, None
        data = path.read_bytes()
    except OSError:
        result.reason = "the uploaded file could not be read: upload it again"
        return result, None
    digest = file_sha256(data)
    if digest in known.hashes:
        result.status, result.source = "already indexed", known.hashes[digest]
        result.title = known.titles.get(result.source, result.source)
        return result, None
    if digest in known.batch:
        result.status, result.source, result.reason = "already indexed", known.batch[digest], "the same file twice in this upload"
        return result, None
    known.batch[digest] = display
    return result, data


def _verdict(result: UploadResult, parsed: Parsed, known: _Known) -> bool:
    """Whether to save the file, from what reading it gave (the result says why not)."""
    if parsed.error or parsed.release is None:
        problem = parsed.problem or CorpusError(parsed.error or f"{result.name} could not be read")
        result.reason = _unreadable(problem, result.name)
        return False
    release = parsed.release
    if release.doc_id in known.docs:  # same text under other bytes (line endings, re-save)
        result.status = "already indexed"
        result.source, result.title = known.docs[release.doc_id]
        return False
    copy_of = known.same_release(release, parsed.signature or "")
    if copy_of:  # a near copy that says the same (another wire's version): it would be merged, so it is not added
        result.status, result.source = "already indexed", copy_of
        result.title = known.titles.get(copy_of, copy_of)
        result.reason = f"same release as {copy_of}"
        return False
    result.status, result.title, result.source = "added", release.title, safe_filename(result.name)
    return True


@dataclass(frozen=True)
class _Written:
    """A file this upload wrote, as it was when written: clean-up removes it only if it is still that file."""

    path: Path
    device: int
    inode: int
    size: int
    mtime_ns: int

    def still_ours(self) -> bool:
        try:
            st = self.path.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (self.device, self.inode, self.size, self.mtime_ns)

    def take_back(self) -> None:
        if self.still_ours():
            self.path.unlink(missing_ok=True)


def _save(result: UploadResult, data: bytes, corpus: Path) -> _Written | None:
    """Write the file under a name reserved atomically; None (and the result says why) if the name is taken."""
    target = corpus / result.source
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        result.status, result.title = "rejected", ""
        result.reason = (
            f"another release is already saved as {result.source}: rename the file, or remove the old one in the Library first"
        )
        return None
    except OSError as exc:
        result.status, result.title = "rejected", ""
        result.reason = f"the releases folder cannot be written ({(exc.strerror or 'error').lower()}): ask the administrator"
        return None
    created = os.fstat(fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        st = target.stat()
    except BaseException:
        with contextlib.suppress(OSError):
            if os.path.samestat(created, target.stat()):
                target.unlink()
        raise
    if not os.path.samestat(created, st):  # replaced from outside since: not ours to record
        result.status, result.title, result.reason = "rejected", "", "the file was replaced while it was saved: upload it again"
        return None
    return _Written(target, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _index(target: Target, saved: list[tuple[UploadResult, _Written]]) -> None:
    """One index update for every saved file; on failure the files this upload wrote are taken back out."""
    try:
        report = target.update(skip_bad=True)
    except BaseException as exc:
        for _, written in saved:
            written.take_back()
        if not isinstance(exc, QAError):
            raise
        for result, _ in saved:
            result.status, result.reason = "rejected", f"the index could not be updated ({chat_message(exc)}); nothing was added"
        return
    per_source = Counter(c.source for c in target.ensure_index().chunks)
    for result, written in saved:
        name = written.path.name
        if name in report.skipped:  # read in the sandbox again and failed this time (a limit on a busy machine)
            written.take_back()
            result.status, result.reason = "rejected", _unreadable(report.skipped[name], name)
            continue
        copy_of = report.duplicates.get(name)
        if copy_of:  # a near copy that says the same: indexed once, under the first file
            result.status, result.reason = "already indexed", f"same release as {copy_of}"
        result.passages = per_source.get(copy_of or name, 0)


def _parse_each(jobs: list[FileJob], limits: ParseLimits | None, heard: Callable[[Parsed], None]) -> list[Parsed]:
    """Each job's result, in the jobs' order: files sharing a name (two uploads called the same) go in separate rounds."""
    results: dict[int, Parsed] = {}
    todo = list(range(len(jobs)))
    while todo:
        first: dict[str, int] = {}  # name -> the first job still to read under it
        for i in todo:
            first.setdefault(jobs[i].source, i)
        now = list(first.values())
        parsed = parse_files([jobs[i] for i in now], limits, on_file=heard)
        results.update((i, parsed[jobs[i].source]) for i in now)
        todo = [i for i in todo if i not in results]
    return [results[i] for i in range(len(jobs))]


def add_files(
    target: Target,
    files: Sequence[str | Path],
    names: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[UploadResult]:
    """Add release files to ``target``'s corpus and index: one :class:`UploadResult` per file, in order.

    ``names`` are the names the user chose (uploads arrive under temporary names); each is reduced
    to a safe file name inside the corpus. The whole upload is one transaction under the corpus's
    lock (shared with removals, :func:`qa.trash.corpus_lock`); files are read in the sandbox.
    ``progress(read, total)`` is called as each file has been read and checked.
    """
    batch = _batch(files, names)
    trash = trash_folder(target.corpus, getattr(target, "folder", target.corpus / ".index"), getattr(target, "trash", None))
    with corpus_lock(trash):
        known = _Known.of(target.ensure_index())
        looked = [_first_look(path, display, known) for path, display in batch]
        readable = [(i, result, data) for i, (result, data) in enumerate(looked) if data is not None]
        jobs = [FileJob(r.name, Path(r.name).suffix.lower(), data, file_sha256(data), ChunkConfig()) for _, r, data in readable]
        done = [0]

        def heard(_: object) -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], len(batch))

        each = _parse_each(jobs, getattr(target, "parse_limits", None), heard)
        parsed = dict(zip((i for i, _, _ in readable), each, strict=True))  # position in the upload -> its result
        if progress is not None:
            progress(len(batch), len(batch))
        checked = [(r, data if i in parsed and _verdict(r, parsed[i], known) else None) for i, (r, data) in enumerate(looked)]
        try:
            target.corpus.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CorpusError(f"the releases folder cannot be created ({(exc.strerror or 'error').lower()})") from None
        saved: list[tuple[UploadResult, _Written]] = []
        try:
            for result, data in checked:
                written = _save(result, data, target.corpus) if data is not None else None
                if written is not None:
                    saved.append((result, written))
        except BaseException:
            for _, written in saved:
                written.take_back()
            raise
        if saved:
            _index(target, saved)
    return [result for result, _ in checked]
