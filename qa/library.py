"""What is indexed, as a reader sees it: releases with their metadata, sources with counts, uploads, removal.

The chat's Library tab, its source list and its upload box all work on whole
releases, not chunks or files: the same release found in two files is one
entry, an upload whose content is already indexed (under any name) is
answered with "already indexed", and removing a release removes every file
that carried it. Everything here goes through a :class:`~qa.answer.QA`
session's public surface (``corpus``, ``folder``, ``ensure_index``, ``update``).
"""

from __future__ import annotations

import re
import shutil
import weakref
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from .build import MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES, claim_name
from .corpus import SUPPORTED_SUFFIXES, file_sha256, parse_bytes, safe_filename
from .errors import CorpusError, QAError
from .session import QA

__all__ = ["ReleaseInfo", "UploadResult", "releases", "search_releases", "source_counts", "undated_releases",
           "add_files", "remove_release", "plain_error"]


@dataclass
class ReleaseInfo:
    """One indexed release (duplicates merged): what the Library tab lists."""

    source: str  # the file its passages are cited from
    title: str
    date: str | None
    organisation: str | None
    section: str | None
    language: str | None
    passages: int
    doc_id: str
    copies: list[str] = field(default_factory=list)  # other files holding the same release

    @property
    def files(self) -> list[str]:
        return [self.source, *self.copies]


_LISTINGS: dict[int, tuple[Any, list[ReleaseInfo]]] = {}  # id(index) -> (weak reference to it, its listing)


def releases(session: QA) -> list[ReleaseInfo]:
    """Every indexed release, newest first (undated last), each listed once whatever the number of copies.

    Computed once per loaded index (the chat asks for it on every page load and filter).
    """
    index = session.ensure_index()
    ref, listing = _LISTINGS.get(id(index), (None, []))
    if ref is None or ref() is not index:
        for key in [k for k, (r, _) in _LISTINGS.items() if r() is None]:
            del _LISTINGS[key]
        listing = _list_releases(index)
        _LISTINGS[id(index)] = (weakref.ref(index), listing)
    return [replace(r, copies=list(r.copies)) for r in listing]


def _list_releases(index: Any) -> list[ReleaseInfo]:
    out: dict[str, ReleaseInfo] = {}
    for chunk in index.chunks:
        info = out.get(chunk.source)
        if info is None:
            out[chunk.source] = ReleaseInfo(chunk.source, chunk.title, chunk.date, chunk.organisation, chunk.section,
                                            chunk.language, 1, chunk.doc_id, sorted(chunk.also_in))
        else:
            info.passages += 1
    return sorted(out.values(), key=lambda r: (r.date is None, "" if r.date is None else _negate(r.date), r.title.lower()))


def _negate(date: str) -> str:
    """Sort key putting later ISO dates first."""
    return "".join(chr(0x7F - ord(c)) for c in date)


def search_releases(items: Sequence[ReleaseInfo], query: str) -> list[ReleaseInfo]:
    """Releases whose title, date, organisation, section or file names contain every word of ``query``."""
    words = (query or "").lower().split()
    if not words:
        return list(items)
    def haystack(r: ReleaseInfo) -> str:
        return " ".join(str(x) for x in (r.title, r.date or "undated", r.organisation, r.section, r.language, *r.files) if x).lower()
    return [r for r in items if all(w in haystack(r) for w in words)]


def source_counts(session: QA) -> list[tuple[str, int]]:
    """Organisations and sections with how many releases carry each, most common first (for the source filter)."""
    counts: Counter[str] = Counter()
    for r in releases(session):
        for name in {x.strip() for x in (r.organisation, r.section) if x and x.strip()}:
            counts[name] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))


def undated_releases(session: QA) -> list[ReleaseInfo]:
    """Releases with no date: any date filter leaves them out, and the chat says so."""
    return [r for r in releases(session) if not r.date]


# ------------------------------------------------------------------ uploads


@dataclass
class UploadResult:
    """What happened to one uploaded file: ``status`` is "added", "already indexed" or "rejected"."""

    name: str
    status: str
    reason: str = ""
    title: str = ""
    source: str = ""  # the corpus file it was saved as, or the indexed file it duplicates
    passages: int = 0


def plain_error(exc: BaseException | str) -> str:
    """A library error in the chat's words: no command lines, no flags."""
    text = str(exc)
    replacements = {
        "--since": "“Since”", "--until": "“Until”", "--source": "“Source”", "--k": "“Passages”",
        "(fix the file, or pass --skip-bad to index the rest)": "(fix the file and upload it again)",
    }
    for old, new in replacements.items():
        text = text.replace(old, new)
    utf8 = re.match(r"(.*?)\bis not UTF-8 text", text)
    if utf8:
        text = f"{utf8.group(1)}is not UTF-8 text: save it as UTF-8 (Unicode) text and upload it again"
    for marker in (": run `", ": rebuild with `", "`python -m qa"):
        if marker in text:
            text = text.split(marker)[0] + ": ask the administrator to rebuild the index"
            break
    text = re.sub(r",? e\.g\. `[^`]*`", "", text)  # shell examples mean nothing in the chat
    first = text.split(" ", 1)[0]
    return text if "." in first or "/" in first else text[:1].upper() + text[1:]  # never capitalise a file name


def _indexed_hashes(session: QA) -> dict[str, str]:
    """sha256 of every indexed file -> that file, duplicates included."""
    index = session.ensure_index()
    return {rec["sha256"]: source for source, rec in index.manifest.files.items() if rec.get("sha256")}


def add_files(session: QA, files: Sequence[str | Path], names: Sequence[str] | None = None) -> list[UploadResult]:
    """Check each upload on its own, save the good ones under their own names and index them in one update.

    A file whose bytes or cleaned text are already indexed is answered "already
    indexed" and not saved again; a different release under a name already in
    use is rejected (never saved as a numbered copy); if the index update
    itself fails, every file of this upload is taken back out.
    """
    paths = [Path(f) for f in files]
    names = list(names) if names else [p.name for p in paths]
    if not paths:
        raise CorpusError(f"no files chosen: pick one or more releases ({', '.join(SUPPORTED_SUFFIXES)})")
    if len(paths) > MAX_UPLOAD_FILES:
        raise CorpusError(f"{len(paths)} files at once; the limit is {MAX_UPLOAD_FILES}: upload them in smaller groups")
    index = session.ensure_index()
    hashes = _indexed_hashes(session)
    docs = {c.doc_id: c for c in index.chunks}
    titles = {c.source: c.title for c in index.chunks}
    for source, rec in index.manifest.files.items():
        if rec.get("duplicate_of"):
            titles[source] = titles.get(rec["duplicate_of"], source)
    taken = {p.name for p in session.corpus.iterdir()} if session.corpus.is_dir() else set()
    results: list[UploadResult] = []
    pending: list[tuple[UploadResult, Path, Path]] = []
    batch_hashes: dict[str, str] = {}
    for path, name in zip(paths, names):
        display = Path(str(name).replace("\\", "/")).name or "file"
        result = UploadResult(display, "rejected")
        results.append(result)
        suffix = Path(display).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            result.reason = f"not a release file type we read; upload {', '.join(SUPPORTED_SUFFIXES)} files"
            continue
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            result.reason = f"{size / 1e6:.1f} MB is over the {MAX_UPLOAD_BYTES / 1e6:.0f} MB limit per release: split it"
            continue
        data = path.read_bytes()
        digest = file_sha256(data)
        if digest in hashes:
            result.status, result.source = "already indexed", hashes[digest]
            result.title = titles.get(result.source, result.source)
            continue
        if digest in batch_hashes:
            result.status, result.source, result.reason = "already indexed", batch_hashes[digest], "the same file twice in this upload"
            continue
        try:
            release = parse_bytes(data, display, suffix, digest)
        except CorpusError as exc:
            reason = plain_error(str(exc))
            for prefix in (f"{display}: ", f"{display} "):
                reason = reason[len(prefix):] if reason.startswith(prefix) else reason
            result.reason = reason[3:] if reason.startswith("is ") else reason
            continue
        if release.doc_id in docs:  # same text under other bytes (line endings, re-save)
            chunk = docs[release.doc_id]
            result.status, result.source, result.title = "already indexed", chunk.source, chunk.title
            continue
        target = safe_filename(display)
        if target in taken:
            result.reason = (f"another release is already saved as {target}: rename the file, "
                             "or remove the old one in the Library first")
            continue
        taken.add(target)
        batch_hashes[digest] = target
        result.status, result.title, result.source = "added", release.title, target
        pending.append((result, path, session.corpus / target))
    if not pending:
        return results
    session.corpus.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    try:
        for result, src, dst in list(pending):
            if not claim_name(dst):  # another upload saved this name since the check above: never overwrite it
                result.status, result.source = "rejected", ""
                result.reason = f"another release was saved as {dst.name} a moment ago: rename the file and upload it again"
                pending.remove((result, src, dst))
                continue
            copied.append(dst)
            shutil.copyfile(src, dst)
        if not pending:
            return results
        report = session.update()
    except QAError as exc:
        for dst in copied:
            dst.unlink(missing_ok=True)
        for result, _, _ in pending:
            result.status, result.reason = "rejected", f"the index could not be updated ({plain_error(exc)}); nothing was added"
        return results
    except BaseException:
        for dst in copied:
            dst.unlink(missing_ok=True)
        raise
    index = session.ensure_index()
    per_source = Counter(c.source for c in index.chunks)
    for result, _, dst in pending:
        copy_of = report.duplicates.get(dst.name)
        if copy_of:  # a near copy (another wire's version): indexed once, under the first file
            result.status, result.reason = "already indexed", f"same release as {copy_of}"
            result.passages = per_source.get(copy_of, 0)
        else:
            result.passages = per_source.get(dst.name, 0)
    return results


# ------------------------------------------------------------------ removal


def remove_release(session: QA, source: str) -> ReleaseInfo:
    """Take a release (every file carrying it) out of the corpus and the index.

    The files are moved to ``<index>/removed/`` rather than deleted, so a
    mistaken removal is undone by moving them back.
    """
    items = releases(session)
    match = next((r for r in items if source in r.files), None)
    if match is None:
        raise CorpusError(f"{source} is not in the library (it may have been removed already): refresh the list")
    if len(items) == 1:
        raise CorpusError("this is the only release in the library: add another before removing it")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    bin_ = session.folder / "removed" / stamp
    bin_.mkdir(parents=True, exist_ok=True)
    moved: list[tuple[Path, Path]] = []
    try:
        for name in match.files:
            src = session.corpus / name
            if src.exists():
                dst = bin_ / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), str(dst))
                moved.append((src, dst))
        session.update()
    except BaseException:
        for src, dst in moved:  # put them back: the index still lists them
            shutil.move(str(dst), str(src))
        raise
    return match


def describe(result: UploadResult) -> dict[str, Any]:
    """Plain data for tests and the API."""
    return {"name": result.name, "status": result.status, "reason": result.reason, "title": result.title,
            "source": result.source, "passages": result.passages}
