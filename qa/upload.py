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

Uploads into one corpus are serialised (a lock per corpus folder), so two
people uploading at once each get the truth about their own file.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .corpus import SUPPORTED_SUFFIXES, file_sha256, parse_bytes, safe_filename
from .errors import CorpusError, QAError, chat_message
from .plan import BuildReport
from .store.index import Index

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

    def update(self) -> BuildReport: ...


@dataclass
class _Known:
    """What the index already holds, by file hash and by release text, plus what this upload accepted so far."""

    hashes: dict[str, str]  # sha256 of every indexed file -> that file
    docs: dict[str, tuple[str, str]]  # doc_id -> (file, title)
    titles: dict[str, str]  # file -> title
    batch: dict[str, str] = field(default_factory=dict)  # sha256 -> name, for files accepted in this upload

    @classmethod
    def of(cls, index: Index) -> _Known:
        docs = {c.doc_id: (c.source, c.title) for c in index.chunks}
        titles = {c.source: c.title for c in index.chunks}
        for source, rec in index.manifest.files.items():
            if rec.duplicate_of:
                titles[source] = titles.get(rec.duplicate_of, source)
        hashes = {rec.sha256: source for source, rec in index.manifest.files.items() if rec.sha256}
        return cls(hashes, docs, titles)


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _corpus_lock(corpus: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(corpus.resolve()), threading.Lock())


def _batch(files: Sequence[str | Path], names: Sequence[str] | None) -> list[tuple[Path, str]]:
    paths = [Path(f) for f in files]
    if not paths:
        raise CorpusError(f"no files chosen: pick one or more releases ({', '.join(SUPPORTED_SUFFIXES)})")
    if len(paths) > MAX_UPLOAD_FILES:
        raise CorpusError(f"{len(paths)} files at once; the limit is {MAX_UPLOAD_FILES}: upload them in smaller groups")
    shown = list(names) if names else [p.name for p in paths]
    return [(p, Path(str(n).replace("\\", "/")).name or "file") for p, n in zip(paths, shown)]


def _unreadable(exc: CorpusError, display: str) -> str:
    """A parse error as a reason about this file (the file's name is already on the line)."""
    reason = chat_message(exc)
    for prefix in (f"{display}: ", f"{display} "):
        reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
    return reason[3:] if reason.startswith("is ") else reason


def _check(path: Path, display: str, known: _Known) -> tuple[UploadResult, bytes | None]:
    """One file's verdict; the bytes come back only for a file to save."""
    result = UploadResult(display, "rejected")
    suffix = Path(display).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        result.reason = f"not a release file type we read; upload {', '.join(SUPPORTED_SUFFIXES)} files"
        return result, None
    size = path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        result.reason = f"{size / 1e6:.1f} MB is over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit per release: split it"
        return result, None
    data = path.read_bytes()
    digest = file_sha256(data)
    if digest in known.hashes:
        result.status, result.source = "already indexed", known.hashes[digest]
        result.title = known.titles.get(result.source, result.source)
        return result, None
    if digest in known.batch:
        result.status, result.source, result.reason = "already indexed", known.batch[digest], "the same file twice in this upload"
        return result, None
    try:
        release = parse_bytes(data, display, suffix, digest)
    except CorpusError as exc:
        result.reason = _unreadable(exc, display)
        return result, None
    if release.doc_id in known.docs:  # same text under other bytes (line endings, re-save)
        result.status = "already indexed"
        result.source, result.title = known.docs[release.doc_id]
        return result, None
    result.status, result.title, result.source = "added", release.title, safe_filename(display)
    known.batch[digest] = result.source
    return result, data


def _save(result: UploadResult, data: bytes, corpus: Path) -> Path | None:
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
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _index(target: Target, saved: list[tuple[UploadResult, Path]]) -> None:
    """One index update for every saved file; on failure they are all taken back out."""
    try:
        report = target.update()
    except BaseException as exc:
        for _, path in saved:
            path.unlink(missing_ok=True)
        if not isinstance(exc, QAError):
            raise
        for result, _ in saved:
            result.status, result.reason = "rejected", f"the index could not be updated ({chat_message(exc)}); nothing was added"
        return
    per_source = Counter(c.source for c in target.ensure_index().chunks)
    for result, path in saved:
        copy_of = report.duplicates.get(path.name)
        if copy_of:  # a near copy (another wire's version): indexed once, under the first file
            result.status, result.reason = "already indexed", f"same release as {copy_of}"
        result.passages = per_source.get(copy_of or path.name, 0)


def add_files(target: Target, files: Sequence[str | Path], names: Sequence[str] | None = None) -> list[UploadResult]:
    """Add release files to ``target``'s corpus and index: one :class:`UploadResult` per file, in order.

    ``names`` are the names the user chose (uploads arrive under temporary
    names); each is reduced to a safe file name inside the corpus.
    """
    batch = _batch(files, names)
    with _corpus_lock(target.corpus):
        known = _Known.of(target.ensure_index())
        checked = [_check(path, display, known) for path, display in batch]
        target.corpus.mkdir(parents=True, exist_ok=True)
        saved: list[tuple[UploadResult, Path]] = []
        try:
            for result, data in checked:
                path = _save(result, data, target.corpus) if data is not None else None
                if path is not None:
                    saved.append((result, path))
        except BaseException:
            for _, path in saved:
                path.unlink(missing_ok=True)
            raise
        if saved:
            _index(target, saved)
    return [result for result, _ in checked]
