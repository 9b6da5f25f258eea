"""What is indexed, as a reader sees it: releases with their metadata, sources with counts, removal.

The chat's Library tab and its source list work on whole releases, not chunks
or files: the same release found in two files is one entry, and removing a
release removes every file that carried it. Uploads are
:meth:`QA.add_releases <qa.session.QA.add_releases>` (:mod:`qa.upload`).
Everything here goes through a :class:`~qa.session.QA` session's public
surface (``corpus``, ``folder``, ``ensure_index``, ``update``).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .corpus import file_sha256
from .errors import CorpusError, QAError
from .session import QA
from .trash import RemovalRecord, corpus_lock, move_no_clobber, new_record, read_records, trash_folder, write_record

__all__ = [
    "ReleaseInfo",
    "releases",
    "remove_release",
    "removed_releases",
    "restore_release",
    "search_releases",
    "source_counts",
    "undated_releases",
    "undo_removal",
]


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
_LISTINGS_LOCK = threading.Lock()


def releases(session: QA) -> list[ReleaseInfo]:
    """Every indexed release, newest first (undated last), each listed once whatever the number of copies.

    Computed once per loaded index (the chat asks for it on every page load and filter).
    """
    index = session.ensure_index()
    with _LISTINGS_LOCK:  # sessions on other threads read and add listings too
        ref, listing = _LISTINGS.get(id(index), (None, []))
    if ref is None or ref() is not index:
        listing = _list_releases(index)
        with _LISTINGS_LOCK:
            for key in [k for k, (r, _) in _LISTINGS.items() if r() is None]:
                del _LISTINGS[key]
            _LISTINGS[id(index)] = (weakref.ref(index), listing)
    return [replace(r, copies=list(r.copies)) for r in listing]


def _list_releases(index: Any) -> list[ReleaseInfo]:
    out: dict[str, ReleaseInfo] = {}
    for chunk in index.chunks:
        info = out.get(chunk.source)
        if info is None:
            out[chunk.source] = ReleaseInfo(
                chunk.source,
                chunk.title,
                chunk.date,
                chunk.organisation,
                chunk.section,
                chunk.language,
                1,
                chunk.doc_id,
                sorted(chunk.also_in),
            )
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
        return " ".join(
            str(x) for x in (r.title, r.date or "undated", r.organisation, r.section, r.language, *r.files) if x
        ).lower()

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


# ------------------------------------------------------------------ removal


def trash_of(session: QA) -> Path:
    """The session's folder for removed releases (outside its corpus and its index folder)."""
    return trash_folder(session.corpus, session.folder, getattr(session, "trash", None))


def remove_release(session: QA, source: str) -> RemovalRecord:
    """Take a release (every file carrying it) out of the corpus and the index, as one transaction.

    The files move to the trash (:mod:`qa.trash`) with a record of what moved; the returned record
    undoes the removal (:func:`undo_removal`). If the index cannot be updated, the files go back,
    each only into a path that is still free (a file that cannot go back stays in the trash, listed
    by :func:`removed_releases`, and the error says so). Uploads and removals of one corpus wait for
    each other.
    """
    trash = trash_of(session)
    with corpus_lock(trash):
        items = releases(session)
        match = next((r for r in items if source in r.files), None)
        if match is None:
            raise CorpusError(f"{source} is not in the library (it may have been removed already): refresh the list")
        if len(items) == 1:
            raise CorpusError("this is the only release in the library: add another before removing it")
        files = [name for name in match.files if (session.corpus / name).is_file()]
        record = new_record(trash, match.title, files, session.corpus)
        _write(record)
        moved: list[str] = []
        try:
            for name in files:
                if _move(session.corpus / name, Path(record.folder) / "files" / name, name):
                    moved.append(name)
            session.update(skip_bad=True)
        except BaseException as exc:
            taken, changed = _put_back(session.corpus, record, moved)
            kept = taken + changed
            record.state, record.kept = ("partly restored" if kept else "restored"), kept
            _write(record)
            if not isinstance(exc, (QAError, OSError)):
                raise
            raise CorpusError(_failed_removal(match.title, exc, kept)) from None
        record.state = "removed"
        _write(record)
    return record


def _failed_removal(title: str, exc: BaseException, kept: list[str]) -> str:
    why = exc.message if isinstance(exc, QAError) else (getattr(exc, "strerror", None) or "a file could not be moved")
    message = f"“{title}” was not removed: {why[:1].lower() + why[1:]}"
    if kept:
        message += f"; {', '.join(kept)} now holds another file, so the removed copy was kept in the list of removed releases"
    return message


def _move(src: Path, dst: Path, name: str) -> bool:
    """Move one file without writing over anything; OSError becomes a plain CorpusError."""
    try:
        return move_no_clobber(src, dst)
    except FileNotFoundError:
        return False  # gone already (another process removed it)
    except OSError as exc:
        raise CorpusError(
            f"cannot move {name}: {(exc.strerror or 'error').lower()}; check that the folders are writable"
        ) from None


def _put_back(corpus: Path, record: RemovalRecord, names: list[str]) -> tuple[list[str], list[str]]:
    """Move these files back from the trash into free paths: the names that could not go back (path taken or
    unreadable), and the names kept in the trash because their content is no longer what was removed."""
    kept, changed = [], []
    for name in names:
        removed = Path(record.folder) / "files" / name
        try:
            if name in record.hashes and file_sha256(removed.read_bytes()) != record.hashes[name]:
                changed.append(name)
            elif not move_no_clobber(removed, corpus / name):
                kept.append(name)
        except OSError:
            kept.append(name)
    return kept, changed


def _write(record: RemovalRecord) -> None:
    try:
        write_record(record)
    except OSError as exc:
        raise CorpusError(
            f"cannot write to the folder for removed releases ({(exc.strerror or 'error').lower()}): make it writable"
        ) from None


def removed_releases(session: QA) -> list[RemovalRecord]:
    """Removals whose files are (at least partly) in the trash, newest first: what "Removed" lists."""
    trash = trash_of(session)
    return [r for r in read_records(trash) if any((Path(r.folder) / "files" / f).is_file() for f in r.files)]


def undo_removal(session: QA, record: RemovalRecord | str) -> RemovalRecord:
    """Put a removed release back (the record :func:`remove_release` returned, or its id) and index it again.

    A file goes back only into a free path and only as it was removed (its hash in the record); one whose
    path now holds another file, or whose removed copy changed, stays in the trash and is named in the
    returned record's ``kept`` (and in the error if nothing went back).
    """
    trash = trash_of(session)
    wanted = record if isinstance(record, str) else record.id
    with corpus_lock(trash):
        found = next((r for r in read_records(trash) if r.id == wanted), None)
        if found is None:
            raise CorpusError("that removal is not in the list of removed releases any more: refresh the list")
        waiting = [f for f in found.files if (Path(found.folder) / "files" / f).is_file()]
        if not waiting:
            raise CorpusError(f"“{found.title}” was restored already: refresh the list")
        taken, changed = _put_back(session.corpus, found, waiting)
        found.state, found.kept = ("partly restored" if taken or changed else "restored"), taken + changed
        _write(found)
        if len(taken) + len(changed) == len(waiting):
            why = [f"{', '.join(taken)} now holds another file; remove or rename that file first"] if taken else []
            if changed:
                copies = ", ".join(changed)
                why.append(f"the removed copy of {copies} changed since its removal, so it was kept aside; upload it again")
            raise CorpusError(f"“{found.title}” was not restored: {'; '.join(why)}")
        try:
            session.update(skip_bad=True)
        except QAError as exc:
            raise CorpusError(
                f"“{found.title}” is back in the releases folder, but the index could not be updated ({exc.message}); "
                "it will be included at the next update"
            ) from None
    return found


restore_release = undo_removal  # restoring one from the "Removed" list is undoing that removal
